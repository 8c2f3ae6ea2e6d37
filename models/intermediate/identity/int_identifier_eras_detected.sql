{#- Time-aware identifiers, first step: when an identifier was held.

    Each carrier of an identifier (a source record, or an identity link) has an active period: a
    record from its registration to its last update, a link the moment it was observed (a link
    landed twice, such as a WeCom contact followed by two staff, from its first to its last
    observation). Sorted by start, the carriers of one identifier fall into eras: a new era starts
    where a carrier starts more than var onedata__identity_reassignment_gap_days days after every
    earlier one ended (a carrier gives a cancelled mobile number to someone else after a 90-day
    quarantine). Only the types var onedata__identity_reassignable_types names can change hands.
    Who held each era is decided in int_identifier_holders_assigned.

    Only identifiers with two or more eras have rows: one per observation (carrier, identifier). -#}
{%- set gap_days = var('onedata__identity_reassignment_gap_days') -%}
{%- set reassignable_types = "'" ~ var('onedata__identity_reassignable_types') | join("', '") ~ "'" -%}

with

-- Only the observations that could belong to an era: a reassignable type, with its dates.
reassignable_observations as (

    select
        carrier_node_id,
        identifier_node_id,
        source_system,
        source_record_id,
        link_id,
        id_type,
        id_value,
        least(first_observed_at, observed_at) as active_from,
        greatest(first_observed_at, observed_at) as active_to
    from {{ ref('int_identifiers_usable') }}
    where
        id_type in ({{ reassignable_types }})
        and first_observed_at is not null
        and observed_at is not null

),

-- Some carrier starts more than the gap after another one ended: needed for a second era (a
-- third carrier may still bridge the gap), and true of few identifiers. Grouped on a hash of the
-- identifier, which is faster; a collision only lets another identifier through, and eras are
-- found per identifier below.
separated_identifiers as (

    select {{ hash64('identifier_node_id') }} as identifier_hash
    from reassignable_observations
    group by {{ hash64('identifier_node_id') }}
    having
        {{ dbt.datediff('min(active_to)', 'max(active_from)', 'day') }}
        > {{ gap_days }}

),

-- A carrier's active period: from its first to its last time with the identifier.
separated_observations as (

    select
        reassignable_observations.carrier_node_id,
        reassignable_observations.identifier_node_id,
        reassignable_observations.source_system,
        reassignable_observations.source_record_id,
        reassignable_observations.link_id,
        reassignable_observations.id_type,
        reassignable_observations.id_value,
        min(reassignable_observations.active_from) as active_from,
        max(reassignable_observations.active_to) as active_to
    from reassignable_observations
    inner join separated_identifiers
        on
            {{ hash64('reassignable_observations.identifier_node_id') }}
            = separated_identifiers.identifier_hash
    group by
        reassignable_observations.carrier_node_id,
        reassignable_observations.identifier_node_id,
        reassignable_observations.source_system,
        reassignable_observations.source_record_id,
        reassignable_observations.link_id,
        reassignable_observations.id_type,
        reassignable_observations.id_value

),

-- Gaps and islands: an era starts where a carrier starts more than the gap after all earlier
-- ones ended.
ordered_observations as (

    select
        *,
        max(active_to) over (
            partition by identifier_node_id
            order by active_from, carrier_node_id
            rows between unbounded preceding and 1 preceding
        ) as earlier_active_to
    from separated_observations

),

era_starts as (

    select
        *,
        case
            when earlier_active_to is null then 1
            when
                {{ dbt.datediff('earlier_active_to', 'active_from', 'day') }}
                > {{ gap_days }}
                then 1
            else 0
        end as is_era_start
    from ordered_observations

),

eras as (

    select
        *,
        sum(is_era_start) over (
            partition by identifier_node_id
            order by active_from, carrier_node_id
            rows between unbounded preceding and current row
        ) as era_number
    from era_starts

),

multi_era_identifiers as (

    select identifier_node_id
    from eras
    group by identifier_node_id
    having max(era_number) > 1

),

final as (

    select
        eras.carrier_node_id,
        eras.identifier_node_id,
        eras.source_system,
        eras.source_record_id,
        eras.link_id,
        eras.id_type,
        eras.id_value,
        eras.era_number,
        eras.active_from,
        eras.active_to
    from eras
    inner join multi_era_identifiers
        on eras.identifier_node_id = multi_era_identifiers.identifier_node_id

)

select * from final
