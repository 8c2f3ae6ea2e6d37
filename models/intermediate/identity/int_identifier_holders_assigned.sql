{#- Time-aware identifiers, second step: who held each era (int_identifier_eras_detected) of an
    identifier. An era's profile holds each stable attribute (var
    onedata__identity_stable_attributes) its carriers know exactly one value of; a link knows those
    of the records carrying its other identifier.

    Each era is compared with the nearest earlier era that knows each attribute:
    - new_holder: they conflict (macros/identity/identity_attributes_conflict.sql). The identifier
      was reassigned: the carriers of every earlier holder are joined to a node of their own
      holding (int_identity_graph_edges), apart from the later holder's. Eras in between that
      know no attribute could be either holder's: the change is put at the longest silence
      among them, where the carrier's quarantine falls;
    - same_holder: they share a birth date and nothing conflicts (a member back after years, or
      one person on both sides of a phone change);
    - unproven: neither; the eras count as one holding, as before.

    limit_period_number restarts the per-person limits (int_identity_links_dropped) and the
    same-system conflicts (int_identity_conflicts_detected) at a new holder and where the same
    holder is proven: a person has one phone at a time, so a proven phone change is not two people.

    One row per observation (carrier, identifier) of an identifier with two or more eras. -#}
{%- set gap_days = var('onedata__identity_reassignment_gap_days') -%}
{%- set earlier_knows_an_attribute = [] -%}
{%- for attribute in identity_stable_attributes() -%}
    {%- do earlier_knows_an_attribute.append('earlier.' ~ attribute ~ ' is not null') -%}
{%- endfor -%}

with

identifier_eras as (

    select * from {{ ref('int_identifier_eras_detected') }}

),

-- int_identifiers_usable is read twice, each time for its few rows that matter (the identifiers
-- a link joins; the records that carry them), rather than copied whole into one CTE read twice.
link_observations as (

    select
        carrier_node_id,
        identifier_node_id
    from {{ ref('int_identifiers_usable') }}
    where link_id is not null

),

record_observations as (

    select
        identifier_node_id,
        source_system,
        source_record_id
    from {{ ref('int_identifiers_usable') }}
    where source_record_id is not null

),

customer_records as (

    select * from {{ ref('int_customer_records_unioned') }}

),

-- A link (openid ~ phone) says who held the phone through the records of its other identifier.
link_other_sides as (

    select
        identifier_eras.carrier_node_id,
        identifier_eras.identifier_node_id,
        other_sides.identifier_node_id as other_identifier_node_id
    from identifier_eras
    inner join link_observations as other_sides
        on
            identifier_eras.carrier_node_id = other_sides.carrier_node_id
            and identifier_eras.identifier_node_id <> other_sides.identifier_node_id
    where identifier_eras.link_id is not null

),

link_profiles as (

    select
        link_other_sides.carrier_node_id,
        link_other_sides.identifier_node_id,
        {{ identity_agreed_value(identity_comparable_gender('customer_records.gender')) }} as gender,
        {{ identity_agreed_value(identity_comparable_full_name('customer_records.full_name')) }} as full_name,
        {{ identity_agreed_value('customer_records.birth_date') }} as birth_date
    from link_other_sides
    inner join record_observations as other_holders
        on link_other_sides.other_identifier_node_id = other_holders.identifier_node_id
    inner join customer_records
        on
            other_holders.source_system = customer_records.source_system
            and other_holders.source_record_id = customer_records.source_record_id
    group by link_other_sides.carrier_node_id, link_other_sides.identifier_node_id

),

profiled_observations as (

    select
        identifier_eras.carrier_node_id,
        identifier_eras.identifier_node_id,
        identifier_eras.source_system,
        identifier_eras.source_record_id,
        identifier_eras.link_id,
        identifier_eras.id_type,
        identifier_eras.id_value,
        coalesce({{ identity_comparable_gender('customer_records.gender') }}, link_profiles.gender) as gender,
        coalesce(
            {{ identity_comparable_full_name('customer_records.full_name') }}, link_profiles.full_name
        ) as full_name,
        identifier_eras.era_number,
        coalesce(customer_records.birth_date, link_profiles.birth_date) as birth_date,
        identifier_eras.active_from,
        identifier_eras.active_to
    from identifier_eras
    left join customer_records
        on
            identifier_eras.source_system = customer_records.source_system
            and identifier_eras.source_record_id = customer_records.source_record_id
    left join link_profiles
        on
            identifier_eras.carrier_node_id = link_profiles.carrier_node_id
            and identifier_eras.identifier_node_id = link_profiles.identifier_node_id

),

-- An era's profile: each attribute its carriers know exactly one value of.
era_profiles as (

    select
        identifier_node_id,
        era_number,
        -- The era's carrier a steward reads first: a record rather than a link.
        coalesce(
            min(case when source_record_id is not null then carrier_node_id end), min(carrier_node_id)
        ) as first_carrier_node_id,
        {{ identity_agreed_value('gender') }} as gender,
        {{ identity_agreed_value('full_name') }} as full_name,
        count(*) as carrier_count,
        {{ identity_agreed_value('birth_date') }} as birth_date,
        min(active_from) as era_started_at,
        max(active_to) as era_ended_at
    from profiled_observations
    group by identifier_node_id, era_number

),

-- For each era and attribute, the nearest earlier era that knows it; and when the era before ended.
nearest_known_eras as (

    select
        later.identifier_node_id,
        later.era_number,
        max(case when earlier.gender is not null then earlier.era_number end) as gender_era_number,
        max(case when earlier.full_name is not null then earlier.era_number end) as full_name_era_number,
        max(case when earlier.birth_date is not null then earlier.era_number end) as birth_date_era_number,
        max(
            case
                when {{ earlier_knows_an_attribute | join(' or ') or 'false' }} then earlier.era_number
            end
        ) as last_known_era_number,
        max(earlier.era_ended_at) as earlier_ended_at
    from era_profiles as later
    inner join era_profiles as earlier
        on
            later.identifier_node_id = earlier.identifier_node_id
            and later.era_number > earlier.era_number
    group by later.identifier_node_id, later.era_number

),

era_comparisons as (

    select
        later.identifier_node_id,
        later.era_number,
        later.first_carrier_node_id,
        later.gender,
        gender_era.gender as earlier_gender,
        later.full_name,
        full_name_era.full_name as earlier_full_name,
        later.carrier_count,
        later.birth_date,
        birth_date_era.birth_date as earlier_birth_date,
        nearest_known_eras.last_known_era_number,
        later.era_started_at,
        nearest_known_eras.earlier_ended_at
    from era_profiles as later
    inner join nearest_known_eras
        on
            later.identifier_node_id = nearest_known_eras.identifier_node_id
            and later.era_number = nearest_known_eras.era_number
    left join era_profiles as gender_era
        on
            nearest_known_eras.identifier_node_id = gender_era.identifier_node_id
            and nearest_known_eras.gender_era_number = gender_era.era_number
    left join era_profiles as full_name_era
        on
            nearest_known_eras.identifier_node_id = full_name_era.identifier_node_id
            and nearest_known_eras.full_name_era_number = full_name_era.era_number
    left join era_profiles as birth_date_era
        on
            nearest_known_eras.identifier_node_id = birth_date_era.identifier_node_id
            and nearest_known_eras.birth_date_era_number = birth_date_era.era_number

),

-- Each era against the nearest earlier eras that know its attributes.
era_changes as (

    select
        identifier_node_id,
        era_number,
        first_carrier_node_id,
        carrier_count,
        case
            when {{ identity_attributes_conflict('', 'earlier_') }} then 'new_holder'
            {% if 'birth_date' in identity_stable_attributes() %}
                when coalesce(birth_date = earlier_birth_date, false) then 'same_holder'
            {% endif %}
            else 'unproven'
        end as compared_change,
        {{ identity_attribute_differences('', 'earlier_') }} as differing_attributes,
        last_known_era_number,
        {{ dbt.datediff('earlier_ended_at', 'era_started_at', 'day') }}
            as gap_days,
        era_started_at,
        earlier_ended_at
    from era_comparisons

),

-- Where the identifier changed hands: eras between the last one that showed the earlier holder
-- and the first that shows the next know nothing, so they could be either's. The carrier's
-- quarantine makes the change the longest silence among them (then the latest).
ranked_holder_starts as (

    select
        conflicts.identifier_node_id,
        candidates.era_number,
        conflicts.differing_attributes,
        row_number() over (
            partition by conflicts.identifier_node_id, conflicts.era_number
            order by candidates.gap_days desc, candidates.era_number desc
        ) as silence_rank
    from era_changes as conflicts
    inner join era_changes as candidates
        on
            conflicts.identifier_node_id = candidates.identifier_node_id
            and conflicts.last_known_era_number < candidates.era_number
            and conflicts.era_number >= candidates.era_number
    where conflicts.compared_change = 'new_holder'

),

holder_starts as (

    select
        identifier_node_id,
        era_number,
        differing_attributes
    from ranked_holder_starts
    where silence_rank = 1

),

era_holders as (

    select
        era_profiles.identifier_node_id,
        era_profiles.era_number,
        case
            when era_profiles.era_number = 1 then 'first'
            when holder_starts.era_number is not null then 'new_holder'
            when era_changes.compared_change = 'same_holder' then 'same_holder'
            else 'unproven'
        end as era_change,
        1 + sum(case when holder_starts.era_number is not null then 1 else 0 end) over (
            partition by era_profiles.identifier_node_id
            order by era_profiles.era_number
            rows between unbounded preceding and current row
        ) as holder_number,
        1 + sum(
            case
                when holder_starts.era_number is not null then 1
                when era_changes.compared_change = 'same_holder' then 1
                else 0
            end
        ) over (
            partition by era_profiles.identifier_node_id
            order by era_profiles.era_number
            rows between unbounded preceding and current row
        ) as limit_period_number
    from era_profiles
    left join era_changes
        on
            era_profiles.identifier_node_id = era_changes.identifier_node_id
            and era_profiles.era_number = era_changes.era_number
    left join holder_starts
        on
            era_profiles.identifier_node_id = holder_starts.identifier_node_id
            and era_profiles.era_number = holder_starts.era_number

),

holder_counts as (

    select
        identifier_node_id,
        max(holder_number) as holder_count
    from era_holders
    group by identifier_node_id

),

-- What keeps an earlier holder's carriers apart: the change to the next holder, with its evidence.
reassignments as (

    select
        era_holders.identifier_node_id,
        era_holders.holder_number - 1 as earlier_holder_number,
        {{ dbt.concat([
            "'last seen with this holder on '",
            'cast(cast(era_changes.earlier_ended_at as date) as ' ~ dbt.type_string() ~ ')',
            "', with the next from '",
            'cast(cast(era_changes.era_started_at as date) as ' ~ dbt.type_string() ~ ')',
            "' ('",
            'cast(era_changes.gap_days as ' ~ dbt.type_string() ~ ')',
            "' days later, more than '",
            "'" ~ gap_days ~ "'",
            "'), on '",
            "case when era_changes.first_carrier_node_id like 'l|%' then 'link ' else '' end",
            "replace(substr(era_changes.first_carrier_node_id, 3), '|', ':')",
            "case when era_changes.carrier_count > 1 then " ~ dbt.concat([
                "' and '", 'cast(era_changes.carrier_count - 1 as ' ~ dbt.type_string() ~ ')', "' more'"
            ]) ~ " else '' end",
            "'; '",
            'holder_starts.differing_attributes',
            "' differ'",
        ]) }} as reassignment_evidence
    from era_holders
    inner join holder_starts
        on
            era_holders.identifier_node_id = holder_starts.identifier_node_id
            and era_holders.era_number = holder_starts.era_number
    inner join era_changes
        on
            era_holders.identifier_node_id = era_changes.identifier_node_id
            and era_holders.era_number = era_changes.era_number

),

final as (

    select
        identifier_eras.carrier_node_id,
        identifier_eras.identifier_node_id,
        identifier_eras.source_system,
        identifier_eras.source_record_id,
        identifier_eras.link_id,
        identifier_eras.id_type,
        identifier_eras.id_value,
        reassignments.reassignment_evidence,
        identifier_eras.era_number,
        era_holders.holder_number,
        holder_counts.holder_count,
        era_holders.limit_period_number,
        era_holders.era_change,
        era_holders.holder_number < holder_counts.holder_count as is_earlier_holder,
        identifier_eras.active_from,
        identifier_eras.active_to
    from identifier_eras
    inner join era_holders
        on
            identifier_eras.identifier_node_id = era_holders.identifier_node_id
            and identifier_eras.era_number = era_holders.era_number
    inner join holder_counts
        on identifier_eras.identifier_node_id = holder_counts.identifier_node_id
    left join reassignments
        on
            identifier_eras.identifier_node_id = reassignments.identifier_node_id
            and era_holders.holder_number = reassignments.earlier_holder_number

)

select * from final
