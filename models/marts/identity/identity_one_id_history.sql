{#- The audit of One ID: every merge and split a build made, appended by that build, with the
    edge that caused it. Read from the registry and edge-log rows of the same dbt invocation.

    - merge: the person one_id_before kept its records together but an older person's id won;
      cause: an edge of the current graph at an identifier carried both by records that had
      one_id_before and by records that had another id (or were new), preferring an edge added
      by this build; failing that, any edge this build added to the person.
    - split: part of the person one_id_before now belongs to one_id_after (a fresh id, or the
      person it joined); cause: an edge of the previous graph, removed by this build, with one end
      in that part and the other outside it. cause_refusal and cause_reason say why the edge went
      (int_identity_edges_refused: a blocked identifier, a cut link, a reassigned identifier, a
      steward's exclusion), or that the landing data no longer shows it.

    full_refresh=false: the history is an audit trail; --full-refresh keeps it.
    on_schema_change: a history built before cause_refusal and cause_reason existed gets them,
    null on its old rows. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    full_refresh=false,
    on_schema_change='append_new_columns',
) }}

with

identity_one_id_registry as (

    select * from {{ ref('int_identity_one_id_registry') }}
    where invocation_id = '{{ invocation_id }}'

),

identity_graph_edge_log as (

    select * from {{ ref('int_identity_graph_edge_log') }}
    where invocation_id = '{{ invocation_id }}'

),

identity_one_ids as (

    select * from {{ ref('int_identity_one_ids') }}

),

identity_graph_edges as (

    select * from {{ ref('int_identity_graph_edges') }}

),

identity_components as (

    select * from {{ ref('int_identity_components') }}

),

identity_edges_refused as (

    select * from {{ ref('int_identity_edges_refused') }}

),

events as (

    select
        case assignment_change when 'merged' then 'merge' else 'split' end as event_type,
        previous_one_id as one_id_before,
        one_id as one_id_after,
        component_id,
        count(*) as records_moved
    from identity_one_id_registry
    where assignment_change in ('merged', 'split')
    group by assignment_change, previous_one_id, one_id, component_id

),

merge_events as (

    select * from events
    where event_type = 'merge'

),

split_events as (

    select * from events
    where event_type = 'split'

),

-- Each record of a merged person with the id it had before this build ('new' for new records).
merged_person_records as (

    select
        identity_one_ids.node_id,
        identity_one_ids.component_id,
        coalesce(
            identity_one_id_registry.previous_one_id,
            case when identity_one_id_registry.source_record_key is null then identity_one_ids.one_id end,
            'new'
        ) as previous_one_id
    from identity_one_ids
    left join identity_one_id_registry
        on identity_one_ids.source_record_key = identity_one_id_registry.source_record_key
    where identity_one_ids.component_id in (select merge_events.component_id from merge_events)

),

merged_person_edges as (

    select
        merge_events.one_id_before,
        merge_events.one_id_after,
        identity_graph_edges.node_id,
        identity_graph_edges.linked_node_id,
        merged_person_records.previous_one_id = merge_events.one_id_before as is_from_merged_person
    from merge_events
    inner join merged_person_records
        on merge_events.component_id = merged_person_records.component_id
    inner join identity_graph_edges
        on merged_person_records.node_id = identity_graph_edges.node_id
    where identity_graph_edges.linked_node_id like 'i|%'

),

-- Identifiers carried by records of the merged person and by records of another.
bridging_identifiers as (

    select
        one_id_before,
        linked_node_id
    from merged_person_edges
    group by one_id_before, linked_node_id
    having
        max(case when is_from_merged_person then 1 else 0 end) = 1
        and min(case when is_from_merged_person then 1 else 0 end) = 0

),

merge_cause_candidates as (

    select
        merged_person_edges.one_id_before,
        merged_person_edges.one_id_after,
        merged_person_edges.node_id,
        merged_person_edges.linked_node_id,
        case when added_edges.node_id is null then 'existing' else 'added' end as cause_edge_change,
        case when added_edges.node_id is null then 1 else 0 end as preference
    from merged_person_edges
    inner join bridging_identifiers
        on
            merged_person_edges.one_id_before = bridging_identifiers.one_id_before
            and merged_person_edges.linked_node_id = bridging_identifiers.linked_node_id
    left join identity_graph_edge_log as added_edges
        on
            merged_person_edges.node_id = added_edges.node_id
            and merged_person_edges.linked_node_id = added_edges.linked_node_id
            and added_edges.edge_change = 'added'

    union all

    -- Fallback (a link between two identifiers): any edge this build added to the person.
    select
        merge_events.one_id_before,
        merge_events.one_id_after,
        identity_graph_edge_log.node_id,
        identity_graph_edge_log.linked_node_id,
        'added' as cause_edge_change,
        2 as preference
    from merge_events
    inner join identity_components
        on merge_events.component_id = identity_components.component_id
    inner join identity_graph_edge_log
        on identity_components.node_id = identity_graph_edge_log.node_id
    where identity_graph_edge_log.edge_change = 'added'

),

-- Edges this build removed, with the component each end is in now (none when it left the graph).
removed_edges as (

    select
        identity_graph_edge_log.node_id,
        identity_graph_edge_log.linked_node_id,
        node_component.component_id as node_component_id,
        linked_component.component_id as linked_component_id
    from identity_graph_edge_log
    left join identity_components as node_component
        on identity_graph_edge_log.node_id = node_component.node_id
    left join identity_components as linked_component
        on identity_graph_edge_log.linked_node_id = linked_component.node_id
    where identity_graph_edge_log.edge_change = 'removed'

),

-- Either end may be the one inside the part that split off; the other end is outside it.
removed_edge_ends as (

    select
        node_id,
        linked_node_id,
        node_component_id as inside_component_id,
        linked_component_id as outside_component_id
    from removed_edges
    union all
    select
        node_id,
        linked_node_id,
        linked_component_id as inside_component_id,
        node_component_id as outside_component_id
    from removed_edges

),

split_cause_candidates as (

    select
        split_events.one_id_before,
        split_events.one_id_after,
        removed_edge_ends.node_id,
        removed_edge_ends.linked_node_id,
        'removed' as cause_edge_change,
        0 as preference
    from split_events
    inner join removed_edge_ends
        on split_events.component_id = removed_edge_ends.inside_component_id
    where
        removed_edge_ends.outside_component_id is null
        or removed_edge_ends.outside_component_id <> split_events.component_id

),

cause_candidates as (

    select * from merge_cause_candidates
    union all
    select * from split_cause_candidates

),

ranked_causes as (

    select
        one_id_before,
        one_id_after,
        node_id,
        linked_node_id,
        cause_edge_change,
        row_number() over (
            partition by one_id_before, one_id_after order by preference, node_id, linked_node_id
        ) as cause_rank
    from cause_candidates

),

causes as (

    select
        one_id_before,
        one_id_after,
        cause_edge_change,
        case when node_id like 'r|%' then substr(node_id, 3) end as cause_source_record_key,
        -- An earlier holder's node of a reassigned identifier ('h|type|value|holder') names the
        -- identifier as 'i|type|value' does.
        case
            when node_id like 'r|%' and linked_node_id like 'h|%'
                then {{ dbt.concat([
                    "'i|'",
                    regexp_replace_all('substr(linked_node_id, 3)', '[|][0-9]+$', ''),
                ]) }}
            when node_id like 'i|%' then node_id
            else linked_node_id
        end as cause_identifier_node_id,
        node_id as cause_node_id,
        linked_node_id as cause_linked_node_id
    from ranked_causes
    where cause_rank = 1

),

-- Why a removed edge went: a safeguard that refuses it now (the first by name, if several).
ranked_refusals as (

    select
        node_id,
        linked_node_id,
        refusal_kind,
        refusal_reason,
        row_number() over (partition by node_id, linked_node_id order by refusal_kind) as refusal_rank
    from identity_edges_refused

),

removal_reasons as (

    select
        node_id,
        linked_node_id,
        refusal_kind,
        refusal_reason
    from ranked_refusals
    where refusal_rank = 1

),

final as (

    select
        {{ dbt.concat([
            "'" ~ invocation_id ~ "'", "'|'", 'events.event_type', "'|'",
            'events.one_id_before', "'|'", 'events.one_id_after',
        ]) }} as event_id,
        events.event_type,
        events.one_id_before,
        events.one_id_after,
        causes.cause_source_record_key,
        {{ dbt.split_part('causes.cause_identifier_node_id', "'|'", 2) }} as cause_id_type,
        substr(
            causes.cause_identifier_node_id,
            length({{ dbt.split_part('causes.cause_identifier_node_id', "'|'", 2) }}) + 4
        ) as cause_id_value,
        causes.cause_edge_change,
        case when causes.cause_edge_change = 'removed' then removal_reasons.refusal_kind end as cause_refusal,
        case
            when causes.cause_edge_change <> 'removed' then null
            when removal_reasons.refusal_reason is not null then removal_reasons.refusal_reason
            else 'no longer in the landing data'
        end as cause_reason,
        causes.cause_node_id,
        causes.cause_linked_node_id,
        events.records_moved,
        '{{ invocation_id }}' as invocation_id,
        cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as {{ dbt.type_timestamp() }}) as event_at
    from events
    left join causes
        on
            events.one_id_before = causes.one_id_before
            and events.one_id_after = causes.one_id_after
    left join removal_reasons
        on
            causes.cause_node_id = removal_reasons.node_id
            and causes.cause_linked_node_id = removal_reasons.linked_node_id

)

select * from final
