{#-
    Materialization `connected_components`.

    The model's SQL returns an edge list (node_id, linked_node_id). The table built holds one row
    per node with component_id, the smallest node_id of its connected component, and the number of
    passes the resolution took.

    Each pass lets every node take the smallest label among its neighbours, lets the node named by
    a label learn the smaller labels its members found (hooking), then follows labels twice
    (pointer jumping). The number of passes grows like log(n), not like the longest chain, which
    is what plain min-label propagation needs. There is no silent cap: if `max_passes` (var
    onedata__identity_max_passes) is reached before the labels settle, the build fails.

    The passes run on integer node numbers, not on the text node ids: numbers are given in the
    order of the ids, so the smallest number is the smallest id, and joins and groupings on
    integers are several times faster. The ids are put back at the end.

    The loop lives in a materialization, not in the model body, so that compiling or linting the
    model never runs it.
-#}
{% materialization connected_components, default %}

    {%- set target_relation = this.incorporate(type='table') -%}
    {%- set existing_relation = load_cached_relation(this) -%}
    {%- set max_passes = config.get('max_passes', var('onedata__identity_max_passes')) | int -%}

    {%- set scratch = {} -%}
    {%- for suffix in ['nodes', 'adjacency', 'labels', 'labels_next', 'result'] -%}
        {%- do scratch.update({suffix: api.Relation.create(
            database=this.database,
            schema=this.schema,
            identifier=this.identifier ~ '__cc_' ~ suffix,
            type='table'
        )}) -%}
    {%- endfor -%}

    {{ run_hooks(pre_hooks) }}

    {%- for relation in scratch.values() -%}
        {% do adapter.drop_relation(relation) %}
    {%- endfor -%}

    {% call statement('cc_nodes') -%}
        {{ create_table_as(False, scratch['nodes'], connected_components_nodes_sql(sql)) }}
    {%- endcall %}

    {# Both directions plus a self-loop, so that every node appears and isolated nodes label themselves. #}
    {% call statement('cc_adjacency') -%}
        {{ create_table_as(False, scratch['adjacency'], connected_components_adjacency_sql(sql, scratch['nodes'])) }}
    {%- endcall %}

    {% call statement('cc_labels') -%}
        {{ create_table_as(False, scratch['labels'],
            'select node_id, min(linked_node_id) as component_id from ' ~ scratch['adjacency'] ~ ' group by node_id') }}
    {%- endcall %}

    {#- passes counts the propagation passes, the last of which found nothing left to change. -#}
    {%- set state = namespace(passes=0, settled=false) -%}
    {%- for pass_number in range(max_passes) -%}
        {%- if not state.settled -%}
            {% call statement('cc_pass') -%}
                {{ create_table_as(False, scratch['labels_next'],
                    connected_components_pass_sql(scratch['adjacency'], scratch['labels'])) }}
            {%- endcall %}
            {%- set changed = run_query(
                'select count(*) from ' ~ scratch['labels'] ~ ' as current_labels'
                ~ ' inner join ' ~ scratch['labels_next'] ~ ' as next_labels'
                ~ ' on current_labels.node_id = next_labels.node_id'
                ~ ' where current_labels.component_id <> next_labels.component_id'
            ).columns[0].values()[0] -%}
            {% do adapter.drop_relation(scratch['labels']) %}
            {% do adapter.rename_relation(scratch['labels_next'], scratch['labels']) %}
            {%- set state.passes = state.passes + 1 -%}
            {%- if changed == 0 -%}
                {%- set state.settled = true -%}
            {%- endif -%}
        {%- endif -%}
    {%- endfor -%}

    {%- if not state.settled -%}
        {{ exceptions.raise_compiler_error(
            'connected_components: ' ~ this ~ ' did not settle within ' ~ max_passes
            ~ ' passes; raise var onedata__identity_max_passes rather than accept a truncated result.'
        ) }}
    {%- endif -%}
    {{ log('connected_components: ' ~ this ~ ' settled after ' ~ state.passes ~ ' passes', info=true) }}

    {% call statement('main') -%}
        {{ create_table_as(False, scratch['result'],
            connected_components_result_sql(scratch['nodes'], scratch['labels'], state.passes)) }}
    {%- endcall %}

    {% if existing_relation is not none %}
        {% do adapter.drop_relation(existing_relation) %}
    {% endif %}
    {% do adapter.rename_relation(scratch['result'], target_relation) %}
    {%- for suffix in ['nodes', 'adjacency', 'labels'] -%}
        {% do adapter.drop_relation(scratch[suffix]) %}
    {%- endfor -%}

    {{ run_hooks(post_hooks) }}
    {% do adapter.commit() %}

    {{ return({'relations': [target_relation]}) }}

{% endmaterialization %}


{#- Every node once, numbered in the order of its id. -#}
{% macro connected_components_nodes_sql(edges_sql) %}
    select
        node_id,
        row_number() over (order by node_id) as node_number
    from (
        select node_id from ({{ edges_sql }}) as edges
        union
        select linked_node_id as node_id from ({{ edges_sql }}) as edges
    ) as node_ids
{% endmacro %}


{#- The edges in both directions and a self-loop per node, as node numbers. Duplicates are kept:
    they cannot change a minimum, and removing them would cost a sort. -#}
{% macro connected_components_adjacency_sql(edges_sql, nodes) %}
    with

    numbered_edges as (
        select
            from_nodes.node_number as node_id,
            to_nodes.node_number as linked_node_id
        from ({{ edges_sql }}) as edges
        inner join {{ nodes }} as from_nodes
            on edges.node_id = from_nodes.node_id
        inner join {{ nodes }} as to_nodes
            on edges.linked_node_id = to_nodes.node_id
    )

    select node_id, linked_node_id from numbered_edges
    union all
    select linked_node_id as node_id, node_id as linked_node_id from numbered_edges
    union all
    select node_number as node_id, node_number as linked_node_id from {{ nodes }}
{% endmacro %}


{#- The labels as ids again: each node with the id of its component's smallest node. -#}
{% macro connected_components_result_sql(nodes, labels, passes) %}
    select
        nodes.node_id,
        components.node_id as component_id,
        {{ passes }} as resolution_pass_count
    from {{ labels }} as labels
    inner join {{ nodes }} as nodes
        on labels.node_id = nodes.node_number
    inner join {{ nodes }} as components
        on labels.component_id = components.node_number
{% endmacro %}


{% macro connected_components_pass_sql(adjacency, labels) %}
    with

    neighbour_minimum as (
        select
            adjacency.node_id,
            min(labels.component_id) as component_id
        from {{ adjacency }} as adjacency
        inner join {{ labels }} as labels
            on adjacency.linked_node_id = labels.node_id
        group by adjacency.node_id
    ),

    -- The node a label points at also learns the smallest label its members found.
    hooked_roots as (
        select
            labels.component_id as node_id,
            min(neighbour_minimum.component_id) as component_id
        from {{ labels }} as labels
        inner join neighbour_minimum
            on labels.node_id = neighbour_minimum.node_id
        group by labels.component_id
    ),

    merged as (
        select
            node_id,
            min(component_id) as component_id
        from (
            select node_id, component_id from neighbour_minimum
            union all
            select node_id, component_id from hooked_roots
        ) as candidates
        group by node_id
    ),

    jumped_once as (
        select
            merged.node_id,
            coalesce(parent.component_id, merged.component_id) as component_id
        from merged
        left join merged as parent
            on merged.component_id = parent.node_id
    ),

    jumped_twice as (
        select
            jumped_once.node_id,
            coalesce(parent.component_id, jumped_once.component_id) as component_id
        from jumped_once
        left join jumped_once as parent
            on jumped_once.component_id = parent.node_id
    )

    select node_id, component_id from jumped_twice
{% endmacro %}
