{#- An aggregate: the value when the rows know exactly one (nulls aside), else null. An era or a
    link's other records know an attribute only when they agree on it. -#}
{% macro identity_agreed_value(column) -%}
    case when count(distinct {{ column }}) = 1 then min({{ column }}) end
{%- endmacro %}
