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

    What keeps it fast:
    - the passes run on 64-bit integers (a hash of the id), not on text; a hash collision is
      detected and the nodes are then numbered exactly instead (a slower sort);
    - nodes with a single neighbour (about a third: an e-mail seen once, a record with one
      identifier) take no part in the passes: they take their neighbour's label at the end;
    - after each pass only the components whose labels still disagree across an edge are kept
      for the next pass; a component whose edges all agree is settled and never changes again.
    Labels are only representatives; the smallest id of each component is found once at the end.

    The loop lives in a materialization, not in the model body, so that compiling or linting the
    model never runs it.
-#}
{% materialization connected_components, default %}

    {%- set target_relation = this.incorporate(type='table') -%}
    {%- set existing_relation = load_cached_relation(this) -%}
    {%- set max_passes = config.get('max_passes', var('onedata__identity_max_passes')) | int -%}
    {%- set numbering = config.get('node_numbering', var('onedata__identity_node_numbering', 'hash')) -%}

    {%- set scratch = {} -%}
    {%- for suffix in ['nodes', 'edges', 'degrees', 'adjacency', 'labels', 'labels_next',
                       'active_adjacency', 'active_adjacency_next', 'active_labels', 'unsettled', 'result'] -%}
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

    {#- Number the nodes: by hash unless two ids share one, then exactly. -#}
    {%- if numbering == 'hash' -%}
        {% call statement('cc_nodes') -%}
            {{ create_table_as(False, scratch['nodes'], connected_components_nodes_sql(sql, 'hash')) }}
        {%- endcall %}
        {%- set collisions = run_query(
            'select count(*) - count(distinct node_number) from ' ~ scratch['nodes']
        ).columns[0].values()[0] -%}
        {%- if collisions != 0 -%}
            {{ log('connected_components: ' ~ this ~ ': ' ~ collisions
                ~ ' hash collision(s) among node ids; numbering them exactly instead', info=true) }}
            {% do adapter.drop_relation(scratch['nodes']) %}
            {%- set numbering = 'exact' -%}
        {%- endif -%}
    {%- endif -%}
    {%- if numbering != 'hash' -%}
        {% call statement('cc_nodes') -%}
            {{ create_table_as(False, scratch['nodes'], connected_components_nodes_sql(sql, 'exact')) }}
        {%- endcall %}
    {%- endif -%}

    {% call statement('cc_edges') -%}
        {{ create_table_as(False, scratch['edges'], connected_components_edges_sql(sql, scratch['nodes'], numbering)) }}
    {%- endcall %}

    {% call statement('cc_degrees') -%}
        {{ create_table_as(False, scratch['degrees'], connected_components_degrees_sql(scratch['edges'])) }}
    {%- endcall %}

    {% call statement('cc_adjacency') -%}
        {{ create_table_as(False, scratch['adjacency'],
            connected_components_core_adjacency_sql(scratch['edges'], scratch['degrees'])) }}
    {%- endcall %}

    {% call statement('cc_labels') -%}
        {{ create_table_as(False, scratch['active_labels'],
            'select node_id, least(node_id, min(linked_node_id)) as component_id from '
            ~ scratch['adjacency'] ~ ' group by node_id') }}
    {%- endcall %}

    {#- Settled labels are set aside in `labels`; the active ones move on, pass after pass. -#}
    {% call statement('cc_settled') -%}
        {{ create_table_as(False, scratch['labels'],
            'select node_id, component_id from ' ~ scratch['active_labels'] ~ ' where 1 = 0') }}
    {%- endcall %}

    {#- passes counts the propagation passes; the last one left no edge whose labels disagree. -#}
    {%- set state = namespace(passes=0, settled=false, active_adjacency=scratch['adjacency']) -%}
    {%- for pass_number in range(max_passes) -%}
        {%- if not state.settled -%}
            {% call statement('cc_pass') -%}
                {{ create_table_as(False, scratch['labels_next'],
                    connected_components_pass_sql(state.active_adjacency, scratch['active_labels'])) }}
            {%- endcall %}
            {%- set state.passes = state.passes + 1 -%}

            {% call statement('cc_unsettled') -%}
                {{ create_table_as(False, scratch['unsettled'],
                    connected_components_unsettled_sql(state.active_adjacency, scratch['labels_next'])) }}
            {%- endcall %}
            {%- set unsettled = run_query('select count(*) from ' ~ scratch['unsettled']).columns[0].values()[0] -%}

            {% call statement('cc_set_aside') -%}
                insert into {{ scratch['labels'] }}
                select labels_next.node_id, labels_next.component_id
                from {{ scratch['labels_next'] }} as labels_next
                left join {{ scratch['unsettled'] }} as unsettled
                    on labels_next.component_id = unsettled.component_id
                where unsettled.component_id is null
            {%- endcall %}

            {% do adapter.drop_relation(scratch['active_labels']) %}
            {%- if unsettled == 0 -%}
                {%- set state.settled = true -%}
            {%- else -%}
                {% call statement('cc_active_labels') -%}
                    {{ create_table_as(False, scratch['active_labels'],
                        'select labels_next.node_id, labels_next.component_id from ' ~ scratch['labels_next']
                        ~ ' as labels_next inner join ' ~ scratch['unsettled']
                        ~ ' as unsettled on labels_next.component_id = unsettled.component_id') }}
                {%- endcall %}
                {#- Both ends of an edge are in one component: keep the edges of active nodes. -#}
                {% call statement('cc_active_adjacency') -%}
                    {{ create_table_as(False, scratch['active_adjacency_next'],
                        'select adjacency.node_id, adjacency.linked_node_id from ' ~ state.active_adjacency
                        ~ ' as adjacency inner join ' ~ scratch['active_labels']
                        ~ ' as active_labels on adjacency.node_id = active_labels.node_id') }}
                {%- endcall %}
                {% do adapter.drop_relation(scratch['active_adjacency']) %}
                {% do adapter.rename_relation(scratch['active_adjacency_next'], scratch['active_adjacency']) %}
                {%- set state.active_adjacency = scratch['active_adjacency'] -%}
            {%- endif -%}
            {% do adapter.drop_relation(scratch['labels_next']) %}
            {% do adapter.drop_relation(scratch['unsettled']) %}
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
        {{ create_table_as(False, scratch['result'], connected_components_result_sql(
            scratch['nodes'], scratch['edges'], scratch['degrees'], scratch['labels'], state.passes)) }}
    {%- endcall %}

    {% if existing_relation is not none %}
        {% do adapter.drop_relation(existing_relation) %}
    {% endif %}
    {% do adapter.rename_relation(scratch['result'], target_relation) %}
    {%- for suffix in ['nodes', 'edges', 'degrees', 'adjacency', 'labels', 'active_adjacency', 'active_labels'] -%}
        {% do adapter.drop_relation(scratch[suffix]) %}
    {%- endfor -%}

    {{ run_hooks(post_hooks) }}
    {% do adapter.commit() %}

    {{ return({'relations': [target_relation]}) }}

{% endmaterialization %}


{#- Every node once with its number: a hash of its id, or, exactly, its rank in id order. -#}
{% macro connected_components_nodes_sql(edges_sql, numbering) %}
    select
        node_id,
        {% if numbering == 'hash' -%}
            {{ hash64('node_id') }}
        {%- else -%}
            row_number() over (order by node_id)
        {%- endif %} as node_number
    from (
        select node_id from ({{ edges_sql }}) as edges
        union
        select linked_node_id as node_id from ({{ edges_sql }}) as edges
    ) as node_ids
{% endmacro %}


{#- The edges as node numbers, self-edges left out (every node is in `nodes` anyway). Duplicates
    are kept: they cannot change a minimum, and removing them would cost a sort. -#}
{% macro connected_components_edges_sql(edges_sql, nodes, numbering) %}
    {% if numbering == 'hash' %}
        select
            {{ hash64('edges.node_id') }} as node_id,
            {{ hash64('edges.linked_node_id') }} as linked_node_id
        from ({{ edges_sql }}) as edges
        where edges.node_id <> edges.linked_node_id
    {% else %}
        select
            from_nodes.node_number as node_id,
            to_nodes.node_number as linked_node_id
        from ({{ edges_sql }}) as edges
        inner join {{ nodes }} as from_nodes
            on edges.node_id = from_nodes.node_id
        inner join {{ nodes }} as to_nodes
            on edges.linked_node_id = to_nodes.node_id
        where edges.node_id <> edges.linked_node_id
    {% endif %}
{% endmacro %}


{% macro connected_components_degrees_sql(edges) %}
    select
        node_id,
        count(*) as degree
    from (
        select node_id from {{ edges }}
        union all
        select linked_node_id as node_id from {{ edges }}
    ) as edge_ends
    group by node_id
{% endmacro %}


{#- The edges between nodes of two or more neighbours, in both directions. -#}
{% macro connected_components_core_adjacency_sql(edges, degrees) %}
    with

    core_edges as (
        select
            edges.node_id,
            edges.linked_node_id
        from {{ edges }} as edges
        inner join {{ degrees }} as from_degrees
            on edges.node_id = from_degrees.node_id
        inner join {{ degrees }} as to_degrees
            on edges.linked_node_id = to_degrees.node_id
        where from_degrees.degree > 1 and to_degrees.degree > 1
    )

    select node_id, linked_node_id from core_edges
    union all
    select linked_node_id as node_id, node_id as linked_node_id from core_edges
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
            labels.node_id,
            least(
                labels.component_id,
                coalesce(neighbour_minimum.component_id, labels.component_id),
                coalesce(hooked_roots.component_id, labels.component_id)
            ) as component_id
        from {{ labels }} as labels
        left join neighbour_minimum
            on labels.node_id = neighbour_minimum.node_id
        left join hooked_roots
            on labels.node_id = hooked_roots.node_id
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


{#- The labels found on an edge whose two ends disagree. A component with two or more labels has
    such an edge on the border of each, so every label of an unsettled component is listed. -#}
{% macro connected_components_unsettled_sql(adjacency, labels) %}
    select distinct from_labels.component_id
    from {{ adjacency }} as adjacency
    inner join {{ labels }} as from_labels
        on adjacency.node_id = from_labels.node_id
    inner join {{ labels }} as to_labels
        on adjacency.linked_node_id = to_labels.node_id
    where from_labels.component_id <> to_labels.component_id
{% endmacro %}


{#- Every node with the smallest id of its component. A node with one neighbour takes that
    neighbour's label (or, when the neighbour has one neighbour too, the pair's smaller number);
    a node of no edge but its self-edge is its own component. -#}
{% macro connected_components_result_sql(nodes, edges, degrees, labels, passes) %}
    with

    edge_ends as (
        select node_id, linked_node_id from {{ edges }}
        union all
        select linked_node_id as node_id, node_id as linked_node_id from {{ edges }}
    ),

    leaf_labels as (
        select
            edge_ends.node_id,
            case
                when neighbours.degree = 1 then least(edge_ends.node_id, edge_ends.linked_node_id)
                else coalesce(labels.component_id, edge_ends.linked_node_id)
            end as component_id
        from {{ degrees }} as leaves
        inner join edge_ends
            on leaves.node_id = edge_ends.node_id
        inner join {{ degrees }} as neighbours
            on edge_ends.linked_node_id = neighbours.node_id
        left join {{ labels }} as labels
            on edge_ends.linked_node_id = labels.node_id
        where leaves.degree = 1
    ),

    all_labels as (
        select node_id, component_id from {{ labels }}
        union all
        select node_id, component_id from leaf_labels
    ),

    labelled_nodes as (
        select
            nodes.node_id,
            coalesce(all_labels.component_id, nodes.node_number) as label
        from {{ nodes }} as nodes
        left join all_labels
            on nodes.node_number = all_labels.node_id
    ),

    component_ids as (
        select
            label,
            min(node_id) as component_id
        from labelled_nodes
        group by label
    )

    select
        labelled_nodes.node_id,
        component_ids.component_id,
        {{ passes }} as resolution_pass_count
    from labelled_nodes
    inner join component_ids
        on labelled_nodes.label = component_ids.label
{% endmacro %}
