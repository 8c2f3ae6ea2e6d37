{#- Links cut to keep a person within the per-person limits (var onedata__identity_max_per_person,
    for example at most one phone). When one identifier, such as a family tablet's device id or
    an openid bound to two phones, joins carriers that hold more values of a limited type than
    the limit allows, it keeps its links to the carriers of the highest-priority values and
    loses the others. Priority: the value more of its carriers share, then the more recently
    seen, then the smaller value, so the choice is deterministic. One row per cut link. -#}
{%- set max_per_person = var('onedata__identity_max_per_person') -%}

with

identifiers_usable as (

    select * from {{ ref('int_identifiers_usable') }}

),

limited_values as (

    select
        carrier_node_id,
        id_type as limited_type,
        id_value as limited_value,
        {{ limit_for_type('id_type', max_per_person) }} as max_per_person
    from identifiers_usable
    where {{ limit_for_type('id_type', max_per_person) }} is not null

),

-- Which limited values each other identifier reaches through the carriers it shares with them.
bridged_values as (

    select
        bridges.identifier_node_id,
        limited_values.limited_type,
        limited_values.limited_value,
        limited_values.max_per_person,
        count(distinct bridges.carrier_node_id) as carrier_count,
        max(bridges.observed_at) as last_observed_at
    from identifiers_usable as bridges
    inner join limited_values
        on bridges.carrier_node_id = limited_values.carrier_node_id
    where bridges.id_type <> limited_values.limited_type
    group by
        bridges.identifier_node_id,
        limited_values.limited_type,
        limited_values.limited_value,
        limited_values.max_per_person

),

ranked_values as (

    select
        *,
        count(*) over (
            partition by identifier_node_id, limited_type
        ) as bridged_value_count,
        row_number() over (
            partition by identifier_node_id, limited_type
            order by carrier_count desc, last_observed_at desc, limited_value asc
        ) as value_rank
    from bridged_values

),

losing_values as (

    select * from ranked_values
    where value_rank > max_per_person

),

final as (

    select distinct
        bridges.carrier_node_id,
        bridges.identifier_node_id,
        bridges.source_system,
        bridges.source_record_id,
        bridges.link_id,
        bridges.id_type,
        bridges.id_value,
        losing_values.limited_type,
        losing_values.bridged_value_count,
        losing_values.max_per_person,
        {{ dbt.concat([
            "'joins '",
            "cast(losing_values.bridged_value_count as " ~ dbt.type_string() ~ ")",
            "' ' ",
            "losing_values.limited_type",
            "' values, more than the limit of '",
            "cast(losing_values.max_per_person as " ~ dbt.type_string() ~ ")",
            "' per person; this link carries a lower-priority one'",
        ]) }} as drop_reason
    from losing_values
    inner join limited_values
        on
            losing_values.limited_type = limited_values.limited_type
            and losing_values.limited_value = limited_values.limited_value
    inner join identifiers_usable as bridges
        on
            limited_values.carrier_node_id = bridges.carrier_node_id
            and losing_values.identifier_node_id = bridges.identifier_node_id

)

select * from final
