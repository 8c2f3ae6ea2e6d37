{#- Records of one source system that carry the same identifier at the same time, but whose
    stable attributes conflict (macros/identity/identity_attributes_conflict.sql): two members of
    one CRM on one phone, one born in 1980 and one in 1995, are two people. "At the same time": in
    one limit period of the identifier (int_identifier_holders_assigned; most identifiers have one).

    The priority of int_identity_links_dropped decides which record keeps the identifier: the one
    that agrees with more of the others, then the more recently seen, then the smaller id. The
    identifier loses its link to every record that conflicts with it; one row per link lost.
    A member who registered twice (nothing conflicts) keeps both links. Records of different
    systems never conflict here: across systems only a change of holder splits. -#}
with

-- Identifiers on source records (a link is no record: it cannot conflict).
record_observations as (

    select
        carrier_node_id,
        identifier_node_id,
        source_system,
        source_record_id,
        id_type,
        id_value,
        observed_at
    from {{ ref('int_identifiers_usable') }}
    where source_record_id is not null

),

identifier_holders as (

    select * from {{ ref('int_identifier_holders_assigned') }}

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

customer_records as (

    select * from {{ ref('int_customer_records_unioned') }}

),

-- Identifiers on two or more records of one system: the only places a conflict can be. Grouped
-- on a hash of the identifier, which is faster; a collision only lets another one through.
shared_in_one_system as (

    select
        {{ hash64('identifier_node_id') }} as identifier_hash,
        source_system
    from record_observations
    group by {{ hash64('identifier_node_id') }}, source_system
    having count(*) > 1

),

grouped_records as (

    select
        record_observations.carrier_node_id,
        record_observations.identifier_node_id,
        record_observations.source_system,
        record_observations.source_record_id,
        record_observations.id_type,
        record_observations.id_value,
        {{ identity_comparable_gender('customer_records.gender') }} as gender,
        {{ identity_comparable_full_name('customer_records.full_name') }} as full_name,
        coalesce(later_limit_periods.limit_period_number, 1) as limit_period_number,
        customer_records.birth_date,
        record_observations.observed_at
    from record_observations
    inner join shared_in_one_system
        on
            {{ hash64('record_observations.identifier_node_id') }} = shared_in_one_system.identifier_hash
            and record_observations.source_system = shared_in_one_system.source_system
    inner join customer_records
        on
            record_observations.source_system = customer_records.source_system
            and record_observations.source_record_id = customer_records.source_record_id
    left join later_limit_periods
        on
            record_observations.carrier_node_id = later_limit_periods.carrier_node_id
            and record_observations.identifier_node_id = later_limit_periods.identifier_node_id

),

record_pairs as (

    select
        kept.carrier_node_id,
        kept.identifier_node_id,
        kept.source_system,
        kept.limit_period_number,
        other.carrier_node_id as other_carrier_node_id,
        other.source_record_id as other_source_record_id,
        other.id_type,
        other.id_value,
        {{ identity_attribute_differences('kept.', 'other.') }} as differing_attributes,
        {{ identity_attributes_conflict('kept.', 'other.') }} as is_conflicting,
        kept.observed_at
    from grouped_records as kept
    inner join grouped_records as other
        on
            kept.identifier_node_id = other.identifier_node_id
            and kept.source_system = other.source_system
            and kept.limit_period_number = other.limit_period_number
            and kept.carrier_node_id <> other.carrier_node_id

),

-- The priority's first key: how many of the others each record agrees with.
agreement as (

    select
        carrier_node_id,
        identifier_node_id,
        source_system,
        limit_period_number,
        sum(case when is_conflicting then 0 else 1 end) as agreeing_record_count,
        max(case when is_conflicting then 1 else 0 end) as has_conflict,
        max(observed_at) as observed_at
    from record_pairs
    group by carrier_node_id, identifier_node_id, source_system, limit_period_number

),

ranked_records as (

    select
        *,
        max(has_conflict) over (
            partition by identifier_node_id, source_system, limit_period_number
        ) as group_has_conflict,
        row_number() over (
            partition by identifier_node_id, source_system, limit_period_number
            order by agreeing_record_count desc, observed_at desc, carrier_node_id asc
        ) as priority_rank
    from agreement

),

keepers as (

    select
        carrier_node_id,
        identifier_node_id,
        limit_period_number
    from ranked_records
    where priority_rank = 1 and group_has_conflict = 1

),

final as (

    select
        record_pairs.other_carrier_node_id as carrier_node_id,
        record_pairs.identifier_node_id,
        record_pairs.source_system,
        record_pairs.other_source_record_id as source_record_id,
        record_pairs.id_type,
        record_pairs.id_value,
        record_pairs.carrier_node_id as kept_carrier_node_id,
        record_pairs.differing_attributes,
        {{ dbt.concat([
            'record_pairs.differing_attributes',
            "' differ from '",
            "replace(substr(record_pairs.carrier_node_id, 3), '|', ':')",
            "', another record of this system on the same identifier at the same time, which keeps it'",
        ]) }} as conflict_reason
    from record_pairs
    inner join keepers
        on
            record_pairs.carrier_node_id = keepers.carrier_node_id
            and record_pairs.identifier_node_id = keepers.identifier_node_id
            and record_pairs.limit_period_number = keepers.limit_period_number
    where record_pairs.is_conflicting

)

select * from final
