{#- The One ID registry: an append-only log of which one_id each source record holds. A build
    reads the latest row per record (its previous one_id), assigns ids by the stability rules
    below and appends a row only for records whose one_id changed, that are new, or that are gone
    (one_id null). The first build, on an empty registry, gives every person the hash of its
    component, as one_id_from_component always did.

    - A component keeps a previous one_id when it holds that person's largest part (most of its
      records, then the smallest component_id). When it may keep several (a merge), the oldest
      wins: first assigned earliest, then the smallest one_id.
    - A component that keeps none (a new person, or a smaller part of a split) gets the hash of its
      component_id; if that id was ever issued before, the hash of component_id and the registry's
      row count, which grows with every build that issues an id, so it is never reissued.
    - New records take the id of the person they join.

    full_refresh=false: the registry is state, not derived data; --full-refresh keeps it. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    full_refresh=false,
) }}

{%- set build_started_at = "cast('" ~ run_started_at.strftime('%Y-%m-%d %H:%M:%S.%f') ~ "' as "
    ~ dbt.type_timestamp() ~ ")" -%}

with

identity_components as (

    select * from {{ ref('int_identity_components') }}

),

{% if is_incremental() %}
    registry as (

        select
            source_record_key,
            one_id,
            one_id_first_assigned_at,
            assigned_at
        from {{ this }}

    ),
{% else %}
    -- First build: nothing has been assigned yet.
    registry as (

        select
            cast(null as {{ dbt.type_string() }}) as source_record_key,
            cast(null as {{ dbt.type_string() }}) as one_id,
            cast(null as {{ dbt.type_timestamp() }}) as one_id_first_assigned_at,
            cast(null as {{ dbt.type_timestamp() }}) as assigned_at
        where 1 = 0

    ),
{% endif %}

current_records as (

    select
        substr(node_id, 3) as source_record_key,
        component_id
    from identity_components
    where node_id like 'r|%'

),

ranked_registry_rows as (

    select
        source_record_key,
        one_id,
        one_id_first_assigned_at,
        row_number() over (partition by source_record_key order by assigned_at desc) as recency_rank
    from registry

),

previous_assignments as (

    select
        source_record_key,
        one_id as previous_one_id,
        one_id_first_assigned_at as previous_one_id_first_assigned_at
    from ranked_registry_rows
    where recency_rank = 1 and one_id is not null

),

-- Every id ever issued, including those retired by a merge: none is ever given to someone else.
issued_one_ids as (

    select distinct one_id
    from registry
    where one_id is not null

),

registry_size as (

    select count(*) as registry_row_count
    from registry

),

records_with_previous as (

    select
        current_records.source_record_key,
        current_records.component_id,
        previous_assignments.previous_one_id,
        previous_assignments.previous_one_id_first_assigned_at
    from current_records
    left join previous_assignments
        on current_records.source_record_key = previous_assignments.source_record_key

),

previous_person_parts as (

    select
        previous_one_id,
        component_id,
        min(previous_one_id_first_assigned_at) as one_id_first_assigned_at,
        count(*) as record_count
    from records_with_previous
    where previous_one_id is not null
    group by previous_one_id, component_id

),

-- A previous person's largest part may keep its one_id: most records, then the smallest component.
ranked_parts as (

    select
        previous_one_id,
        component_id,
        one_id_first_assigned_at,
        row_number() over (
            partition by previous_one_id order by record_count desc, component_id asc
        ) as part_rank
    from previous_person_parts

),

keeper_parts as (

    select
        previous_one_id,
        component_id,
        one_id_first_assigned_at
    from ranked_parts
    where part_rank = 1

),

-- Of the ids a component may keep, the oldest wins: first assigned earliest, then the smallest.
ranked_claims as (

    select
        component_id,
        previous_one_id as one_id,
        one_id_first_assigned_at,
        row_number() over (
            partition by component_id order by one_id_first_assigned_at, previous_one_id
        ) as claim_rank
    from keeper_parts

),

kept_one_ids as (

    select
        component_id,
        one_id,
        one_id_first_assigned_at
    from ranked_claims
    where claim_rank = 1

),

components as (

    select distinct component_id
    from current_records

),

fresh_candidates as (

    select
        components.component_id,
        {{ one_id_from_component('components.component_id') }} as candidate_one_id
    from components
    left join kept_one_ids
        on components.component_id = kept_one_ids.component_id
    where kept_one_ids.component_id is null

),

fresh_one_ids as (

    select
        fresh_candidates.component_id,
        case
            when issued_one_ids.one_id is null then fresh_candidates.candidate_one_id
            else {{ one_id_from_component(dbt.concat([
                'fresh_candidates.component_id',
                "'|'",
                'cast(registry_size.registry_row_count as ' ~ dbt.type_string() ~ ')',
            ])) }}
        end as one_id,
        {{ build_started_at }} as one_id_first_assigned_at
    from fresh_candidates
    cross join registry_size
    left join issued_one_ids
        on fresh_candidates.candidate_one_id = issued_one_ids.one_id

),

component_one_ids as (

    select * from kept_one_ids
    union all
    select * from fresh_one_ids

),

assigned as (

    select
        records_with_previous.source_record_key,
        component_one_ids.one_id,
        records_with_previous.previous_one_id,
        records_with_previous.component_id,
        case
            when records_with_previous.previous_one_id is null then 'new_record'
            when records_with_previous.previous_one_id = component_one_ids.one_id then 'unchanged'
            -- The record's person kept this component but an older id won: merged away.
            when keeper_parts.component_id = records_with_previous.component_id then 'merged'
            else 'split'
        end as assignment_change,
        component_one_ids.one_id_first_assigned_at
    from records_with_previous
    inner join component_one_ids
        on records_with_previous.component_id = component_one_ids.component_id
    left join keeper_parts
        on records_with_previous.previous_one_id = keeper_parts.previous_one_id

),

removed as (

    select
        previous_assignments.source_record_key,
        cast(null as {{ dbt.type_string() }}) as one_id,
        previous_assignments.previous_one_id,
        cast(null as {{ dbt.type_string() }}) as component_id,
        'removed' as assignment_change,
        cast(null as {{ dbt.type_timestamp() }}) as one_id_first_assigned_at
    from previous_assignments
    left join current_records
        on previous_assignments.source_record_key = current_records.source_record_key
    where current_records.source_record_key is null

),

changes as (

    select * from assigned
    where assignment_change <> 'unchanged'
    union all
    select * from removed

),

final as (

    select
        source_record_key,
        one_id,
        previous_one_id,
        component_id,
        assignment_change,
        '{{ invocation_id }}' as invocation_id,
        one_id_first_assigned_at,
        {{ build_started_at }} as assigned_at
    from changes

)

select * from final
