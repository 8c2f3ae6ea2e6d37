{#- Every usable identifier value with the person it resolves to. Blocked identifiers resolve to
    nobody and say why: this is the data steward's list of what was kept out of stitching. -#}
with

identifiers_observed as (

    select * from {{ ref('int_identifiers_observed') }}

),

identifiers_blocked as (

    select * from {{ ref('int_identifiers_blocked') }}

),

identity_components as (

    select * from {{ ref('int_identity_components') }}

),

identity_one_ids as (

    select * from {{ ref('int_identity_one_ids') }}

),

-- A person's id is its records' id; a component without records (identifiers only seen in
-- links) is nobody.
component_one_ids as (

    select distinct
        component_id,
        one_id
    from identity_one_ids

),

distinct_identifiers as (

    select
        id_type,
        id_value,
        count(distinct {{ dbt.concat(['source_system', "'|'", 'source_record_id']) }}) as source_record_count,
        count(distinct link_id) as link_count,
        min(observed_at) as first_observed_at,
        max(observed_at) as last_observed_at
    from identifiers_observed
    where id_value is not null
    group by id_type, id_value

),

block_reasons as (

    select
        id_type,
        id_value,
        min(block_reason) as block_reason,
        min(block_detail) as block_detail
    from identifiers_blocked
    group by id_type, id_value

),

final as (

    select
        {{ dbt.concat(['distinct_identifiers.id_type', "'|'", 'distinct_identifiers.id_value']) }} as identifier_key,
        case
            when block_reasons.block_reason is null
                then component_one_ids.one_id
        end as one_id,
        distinct_identifiers.id_type,
        distinct_identifiers.id_value,
        block_reasons.block_reason,
        block_reasons.block_detail,
        distinct_identifiers.source_record_count,
        distinct_identifiers.link_count,
        block_reasons.block_reason is not null as is_blocked,
        distinct_identifiers.first_observed_at,
        distinct_identifiers.last_observed_at
    from distinct_identifiers
    left join block_reasons
        on
            distinct_identifiers.id_type = block_reasons.id_type
            and distinct_identifiers.id_value = block_reasons.id_value
    left join identity_components
        on {{ dbt.concat(["'i|'", 'distinct_identifiers.id_type', "'|'", 'distinct_identifiers.id_value']) }}
            = identity_components.node_id
    left join component_one_ids
        on identity_components.component_id = component_one_ids.component_id

)

select * from final
