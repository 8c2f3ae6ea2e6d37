{#- The identity graph's history: an append-only log of edges added and removed, one row per edge
    and change, so that a build can name the edge whose loss split a person. A build compares the
    current edges with the edges the log says are present and appends only the difference (the
    first build appends every edge). Self-edges are left out: they never join two nodes.

    full_refresh=false: the log is state, not derived data; --full-refresh keeps it. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    full_refresh=false,
) }}

with

identity_graph_edges as (

    select * from {{ ref('int_identity_graph_edges') }}

),

current_edges as (

    select
        node_id,
        linked_node_id
    from identity_graph_edges
    where node_id <> linked_node_id

),

{% if is_incremental() %}
    ranked_log_rows as (

        select
            node_id,
            linked_node_id,
            edge_change,
            row_number() over (
                partition by node_id, linked_node_id order by changed_at desc
            ) as recency_rank
        from {{ this }}

    ),

    previous_edges as (

        select
            node_id,
            linked_node_id
        from ranked_log_rows
        where recency_rank = 1 and edge_change = 'added'

    ),
{% else %}
    previous_edges as (

        select
            cast(null as {{ dbt.type_string() }}) as node_id,
            cast(null as {{ dbt.type_string() }}) as linked_node_id
        where 1 = 0

    ),
{% endif %}

added as (

    select
        current_edges.node_id,
        current_edges.linked_node_id,
        'added' as edge_change
    from current_edges
    left join previous_edges
        on
            current_edges.node_id = previous_edges.node_id
            and current_edges.linked_node_id = previous_edges.linked_node_id
    where previous_edges.node_id is null

),

removed as (

    select
        previous_edges.node_id,
        previous_edges.linked_node_id,
        'removed' as edge_change
    from previous_edges
    left join current_edges
        on
            previous_edges.node_id = current_edges.node_id
            and previous_edges.linked_node_id = current_edges.linked_node_id
    where current_edges.node_id is null

),

changes as (

    select * from added
    union all
    select * from removed

),

final as (

    select
        node_id,
        linked_node_id,
        edge_change,
        '{{ invocation_id }}' as invocation_id,
        cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as {{ dbt.type_timestamp() }}) as changed_at
    from changes

)

select * from final
