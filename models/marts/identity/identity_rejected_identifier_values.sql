{#- The quarantine: every raw identifier value that could not be used, with the reason, so that a
    data steward sees what was lost instead of it vanishing. -#}
with

identifiers_observed as (

    select * from {{ ref('int_identifiers_observed') }}

),

final as (

    select
        source_system,
        source_record_id,
        link_id,
        id_type,
        id_value_raw,
        rejection_reason,
        observed_at
    from identifiers_observed
    where rejection_reason is not null

)

select * from final
