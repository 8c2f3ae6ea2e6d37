{#- The person key: a short hash of the component's label, so that it does not reveal the
    identifier the label is made of. -#}
{% macro one_id_from_component(component_id) -%}
    {{ dbt.concat(["'od_'", "substr(md5(" ~ component_id ~ "), 1, 20)"]) }}
{%- endmacro %}
