-- One ID is stable: a person whose records are exactly the same as before the latest build that
-- changed the registry keeps the one_id it had. Rebuilds the state before that build from the
-- append-only registry (latest row per record assigned before it) and compares it with now.
with

registry as (

    select * from {{ ref('int_identity_one_id_registry') }}

),

identity_one_ids as (

    select * from {{ ref('int_identity_one_ids') }}

),

latest_build as (

    select max(assigned_at) as assigned_at
    from registry

),

ranked_previous_rows as (

    select
        registry.source_record_key,
        registry.one_id,
        row_number() over (
            partition by registry.source_record_key order by registry.assigned_at desc
        ) as recency_rank
    from registry
    cross join latest_build
    where registry.assigned_at < latest_build.assigned_at

),

previous_assignments as (

    select
        source_record_key,
        one_id as previous_one_id
    from ranked_previous_rows
    where recency_rank = 1 and one_id is not null

),

previous_person_sizes as (

    select
        previous_one_id,
        count(*) as record_count
    from previous_assignments
    group by previous_one_id

),

current_components as (

    select
        identity_one_ids.component_id,
        count(*) as record_count,
        count(distinct previous_assignments.previous_one_id) as previous_one_id_count,
        count(previous_assignments.previous_one_id) as records_with_previous_one_id,
        min(previous_assignments.previous_one_id) as previous_one_id
    from identity_one_ids
    left join previous_assignments
        on identity_one_ids.source_record_key = previous_assignments.source_record_key
    group by identity_one_ids.component_id

),

-- Same records as before: all of them had one and the same id, and that person had no others.
unchanged_components as (

    select
        current_components.component_id,
        current_components.previous_one_id
    from current_components
    inner join previous_person_sizes
        on current_components.previous_one_id = previous_person_sizes.previous_one_id
    where
        current_components.previous_one_id_count = 1
        and current_components.records_with_previous_one_id = current_components.record_count
        and previous_person_sizes.record_count = current_components.record_count

),

final as (

    select
        identity_one_ids.source_record_key,
        unchanged_components.previous_one_id,
        identity_one_ids.one_id
    from unchanged_components
    inner join identity_one_ids
        on unchanged_components.component_id = identity_one_ids.component_id
    where identity_one_ids.one_id <> unchanged_components.previous_one_id

)

select * from final
