{#- Every observation of an identifier that may stitch: normalised, and neither blocked nor
    rejected. Each row says which carrier saw it: a source record ('r|system|id') or an identity
    link ('l|link_id'). -#}
with

identifiers_observed as (

    select * from {{ ref('int_identifiers_observed') }}

),

identifiers_blocked as (

    select distinct
        id_type,
        id_value
    from {{ ref('int_identifiers_blocked') }}

),

final as (

    select
        case
            when identifiers_observed.source_record_id is not null
                then {{ dbt.concat([
                    "'r|'", 'identifiers_observed.source_system', "'|'", 'identifiers_observed.source_record_id'
                ]) }}
            else {{ dbt.concat(["'l|'", 'identifiers_observed.link_id']) }}
        end as carrier_node_id,
        {{ dbt.concat(["'i|'", 'identifiers_observed.id_type', "'|'", 'identifiers_observed.id_value']) }}
            as identifier_node_id,
        identifiers_observed.source_system,
        identifiers_observed.source_record_id,
        identifiers_observed.link_id,
        identifiers_observed.id_type,
        identifiers_observed.id_value,
        identifiers_observed.first_observed_at,
        identifiers_observed.observed_at
    from identifiers_observed
    left join identifiers_blocked
        on
            identifiers_observed.id_type = identifiers_blocked.id_type
            and identifiers_observed.id_value = identifiers_blocked.id_value
    where
        identifiers_observed.id_value is not null
        and identifiers_blocked.id_value is null

)

select * from final
