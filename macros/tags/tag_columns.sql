{#- The tags: every column of member_profiles whose YAML has `meta.tag`, in YAML order, as
    dicts (name, description, family, type, values, owner, refresh). Owner and refresh come from
    the column's meta or else from its family in var onedata__tag_families. Read from the graph,
    so only known when dbt executes; while parsing the list is empty. -#}
{% macro tag_columns() %}
    {%- set tags = [] -%}
    {%- if execute -%}
        {%- set families = var('onedata__tag_families') -%}
        {%- set profile = graph.nodes.get('model.onedata.member_profiles') -%}
        {%- for column in (profile.columns.values() if profile else []) -%}
            {%- set meta = column.meta or column.get('config', {}).get('meta', {}) -%}
            {%- if meta.get('tag') -%}
                {%- set tag = meta['tag'] -%}
                {%- if tag['family'] not in families -%}
                    {{ exceptions.raise_compiler_error('tag ' ~ column.name ~ ': family ' ~ tag['family']
                        ~ ' is not in var onedata__tag_families') }}
                {%- endif -%}
                {%- set family = families[tag['family']] -%}
                {%- do tags.append({
                    'name': column.name,
                    'description': column.description,
                    'family': tag['family'],
                    'type': tag['type'],
                    'values': tag.get('values', []),
                    'owner': tag.get('owner', family['owner']),
                    'refresh': tag.get('refresh', family['refresh']),
                }) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(tags) }}
{% endmacro %}
