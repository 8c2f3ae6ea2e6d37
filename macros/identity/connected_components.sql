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

    The loop lives in a materialization, not in the model body, so that compiling or linting the
    model never runs it.
-#}
{% materialization connected_components, default %}

    {%- set target_relation = this.incorporate(type='table') -%}
    {%- set existing_relation = load_cached_relation(this) -%}
    {%- set max_passes = config.get('max_passes', var('onedata__identity_max_passes')) | int -%}

    {%- set scratch = {} -%}
    {%- for suffix in ['edges', 'adjacency', 'labels', 'labels_next', 'result'] -%}
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

    {% call statement('cc_edges') -%}
        {{ create_table_as(False, scratch['edges'], sql) }}
    {%- endcall %}

    {# Both directions plus a self-loop, so that every node appears and isolated nodes label themselves. #}
    {% call statement('cc_adjacency') -%}
        {{ create_table_as(False, scratch['adjacency'], connected_components_adjacency_sql(scratch['edges'])) }}
    {%- endcall %}

    {% call statement('cc_labels') -%}
        {{ create_table_as(False, scratch['labels'],
            'select node_id, min(linked_node_id) as component_id from ' ~ scratch['adjacency'] ~ ' group by node_id') }}
    {%- endcall %}

    {%- set state = namespace(passes=1, settled=false) -%}
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
            'select node_id, component_id, ' ~ state.passes ~ ' as resolution_pass_count from ' ~ scratch['labels']) }}
    {%- endcall %}

    {% if existing_relation is not none %}
        {% do adapter.drop_relation(existing_relation) %}
    {% endif %}
    {% do adapter.rename_relation(scratch['result'], target_relation) %}
    {%- for suffix in ['edges', 'adjacency', 'labels'] -%}
        {% do adapter.drop_relation(scratch[suffix]) %}
    {%- endfor -%}

    {{ run_hooks(post_hooks) }}
    {% do adapter.commit() %}

    {{ return({'relations': [target_relation]}) }}

{% endmaterialization %}


{% macro connected_components_adjacency_sql(edges) %}
    select node_id, linked_node_id from {{ edges }}
    union
    select linked_node_id as node_id, node_id as linked_node_id from {{ edges }}
    union
    select node_id, node_id as linked_node_id from {{ edges }}
    union
    select linked_node_id as node_id, linked_node_id from {{ edges }}
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
