{#- A full name as One ID compares it: lower-cased, without spaces (ASCII or full-width), the way
    one name is most often written two ways; null when nothing is left. -#}
{% macro identity_comparable_full_name(column) -%}
    nullif(lower(replace(replace({{ column }}, ' ', ''), '　', '')), '')
{%- endmacro %}
