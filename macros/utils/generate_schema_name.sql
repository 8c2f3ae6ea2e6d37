{#
    Use the folder's schema name as it is (staging, marts, segments, ...) instead of dbt's
    default <target_schema>_<custom_schema>, so that the activation CLI and BI tools find
    audiences at a stable place: segments.<audience>.
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
