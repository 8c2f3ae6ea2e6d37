{#- What One ID refused to stitch, for a data steward to review: every blocked identifier with
    its reason; every link cut to keep a person within the per-person limits or between records
    of one system whose stable attributes conflict; every carrier of a reassigned identifier's
    earlier holder, with the evidence (when each holder was last and first seen, which attributes
    differ). A value wrongly blocked is released by removing it from the blocklist or raising its
    type's limit; a link wrongly cut, by raising onedata__identity_max_per_person or narrowing
    onedata__identity_stable_attributes; a reassignment wrongly seen, by raising
    onedata__identity_reassignment_gap_days. -#}
with

identifiers_blocked as (

    select * from {{ ref('int_identifiers_blocked') }}

),

identity_links_dropped as (

    select * from {{ ref('int_identity_links_dropped') }}

),

identifier_holders as (

    select * from {{ ref('int_identifier_holders_assigned') }}

),

blocked_identifiers as (

    select
        'blocked_identifier' as review_kind,
        id_type,
        id_value,
        block_reason as review_reason,
        block_detail as review_detail,
        cast(null as {{ dbt.type_string() }}) as source_system,
        cast(null as {{ dbt.type_string() }}) as source_record_id,
        cast(null as {{ dbt.type_string() }}) as link_id,
        source_record_count
    from identifiers_blocked

),

dropped_links as (

    select
        'dropped_link' as review_kind,
        id_type,
        id_value,
        case
            when drop_rule = 'over_limit' then {{ dbt.concat(["'over_limit_'", 'limited_type']) }}
            else drop_rule
        end as review_reason,
        drop_reason as review_detail,
        source_system,
        source_record_id,
        link_id,
        cast(null as {{ dbt.type_bigint() }}) as source_record_count
    from identity_links_dropped

),

reassigned_identifiers as (

    select
        'reassigned_identifier' as review_kind,
        id_type,
        id_value,
        'reassigned' as review_reason,
        reassignment_evidence as review_detail,
        source_system,
        source_record_id,
        link_id,
        cast(null as {{ dbt.type_bigint() }}) as source_record_count
    from identifier_holders
    where is_earlier_holder

),

final as (

    select * from blocked_identifiers
    union all
    select * from dropped_links
    union all
    select * from reassigned_identifiers

)

select * from final
