{#- Links cut so that a link never joins two people, one row per cut link and rule:

    - over_limit: the per-person limits (var onedata__identity_max_per_person, for example at most
      one phone). When one identifier, such as a family tablet's device id or an openid bound to
      two phones, joins carriers that hold more values of a limited type than the limit allows,
      it keeps its links to the carriers of the highest-priority values and loses the others.
      Priority: the value more of its carriers share, then the more recently seen, then the
      smaller value, so the choice is deterministic. An identity link also counts the values of
      the record its other identifier names (an identifier on one record only, such as an app
      user id), so two login links cannot carry a family tablet's device id from one account's
      phone to another's. A person has one phone at a time: the
      limit counts within one limit period of the identifier (int_identifier_holders_assigned), so
      phones held years apart by carriers that share a birth date are a phone change, not two
      people.
    - conflicting_attributes: records of one source system on one identifier whose stable
      attributes conflict (int_identity_conflicts_detected), by the same priority. -#}
{%- set max_per_person = var('onedata__identity_max_per_person') -%}

with

identifiers_usable as (

    select * from {{ ref('int_identifiers_usable') }}

),

identifier_holders as (

    select * from {{ ref('int_identifier_holders_assigned') }}

),

identity_conflicts as (

    select * from {{ ref('int_identity_conflicts_detected') }}

),

-- Only identifiers of several limit periods need theirs looked up; the others have one.
later_limit_periods as (

    select
        carrier_node_id,
        identifier_node_id,
        limit_period_number
    from identifier_holders
    where limit_period_number > 1

),

-- Every observation with the limit period it counts in.
bridges as (

    select
        identifiers_usable.*,
        coalesce(later_limit_periods.limit_period_number, 1) as limit_period_number
    from identifiers_usable
    left join later_limit_periods
        on
            identifiers_usable.carrier_node_id = later_limit_periods.carrier_node_id
            and identifiers_usable.identifier_node_id = later_limit_periods.identifier_node_id

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

link_identifiers as (

    select distinct identifier_node_id
    from identifiers_usable
    where link_id is not null

),

-- Identifiers on exactly one source record that an identity link names (an app account's user
-- id, a buyer id): the link speaks for that record.
records_named_by_links as (

    select
        identifiers_usable.identifier_node_id,
        min(identifiers_usable.carrier_node_id) as record_node_id
    from identifiers_usable
    inner join link_identifiers
        on identifiers_usable.identifier_node_id = link_identifiers.identifier_node_id
    where identifiers_usable.link_id is null
    group by identifiers_usable.identifier_node_id
    having count(*) = 1

),

-- The limited values each carrier holds. An identity link also holds those of the record one of
-- its identifiers names, on behalf of its other identifier: a device seen on two app accounts
-- through two login links joins their two phones as surely as the accounts themselves would.
carrier_values as (

    select
        carrier_node_id,
        cast(null as {{ dbt.type_string() }}) as named_identifier_node_id,
        limited_type,
        limited_value,
        max_per_person
    from limited_values

    union all

    select
        link_sides.carrier_node_id,
        link_sides.identifier_node_id as named_identifier_node_id,
        limited_values.limited_type,
        limited_values.limited_value,
        limited_values.max_per_person
    from identifiers_usable as link_sides
    inner join records_named_by_links
        on link_sides.identifier_node_id = records_named_by_links.identifier_node_id
    inner join limited_values
        on records_named_by_links.record_node_id = limited_values.carrier_node_id
    where link_sides.link_id is not null

),

-- The limited values each observation brings to its identifier.
observed_values as (

    select
        bridges.identifier_node_id,
        bridges.limit_period_number,
        bridges.carrier_node_id,
        bridges.observed_at,
        carrier_values.limited_type,
        carrier_values.limited_value,
        carrier_values.max_per_person
    from bridges
    inner join carrier_values
        on bridges.carrier_node_id = carrier_values.carrier_node_id
    where
        bridges.id_type <> carrier_values.limited_type
        and (
            carrier_values.named_identifier_node_id is null
            or bridges.identifier_node_id <> carrier_values.named_identifier_node_id
        )

),

-- Which limited values each other identifier reaches through the carriers it shares with them.
bridged_values as (

    select
        identifier_node_id,
        limit_period_number,
        limited_type,
        limited_value,
        max_per_person,
        count(distinct carrier_node_id) as carrier_count,
        max(observed_at) as last_observed_at
    from observed_values
    group by
        identifier_node_id,
        limit_period_number,
        limited_type,
        limited_value,
        max_per_person

),

ranked_values as (

    select
        *,
        count(*) over (
            partition by identifier_node_id, limit_period_number, limited_type
        ) as bridged_value_count,
        row_number() over (
            partition by identifier_node_id, limit_period_number, limited_type
            order by carrier_count desc, last_observed_at desc, limited_value asc
        ) as value_rank
    from bridged_values

),

losing_values as (

    select * from ranked_values
    where value_rank > max_per_person

),

over_limit as (

    select distinct
        losing_links.carrier_node_id,
        losing_links.identifier_node_id,
        losing_links.source_system,
        losing_links.source_record_id,
        losing_links.link_id,
        losing_links.id_type,
        losing_links.id_value,
        'over_limit' as drop_rule,
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
    inner join observed_values
        on
            losing_values.identifier_node_id = observed_values.identifier_node_id
            and losing_values.limit_period_number = observed_values.limit_period_number
            and losing_values.limited_type = observed_values.limited_type
            and losing_values.limited_value = observed_values.limited_value
    inner join identifiers_usable as losing_links
        on
            observed_values.carrier_node_id = losing_links.carrier_node_id
            and observed_values.identifier_node_id = losing_links.identifier_node_id

),

conflicting_attributes as (

    select
        carrier_node_id,
        identifier_node_id,
        source_system,
        source_record_id,
        cast(null as {{ dbt.type_string() }}) as link_id,
        id_type,
        id_value,
        'conflicting_attributes' as drop_rule,
        cast(null as {{ dbt.type_string() }}) as limited_type,
        cast(null as {{ dbt.type_bigint() }}) as bridged_value_count,
        cast(null as {{ dbt.type_int() }}) as max_per_person,
        conflict_reason as drop_reason
    from identity_conflicts

),

final as (

    select * from over_limit
    union all
    select * from conflicting_attributes

)

select * from final
