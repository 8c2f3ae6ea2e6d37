{#- A gender as One ID compares it: M or F; anything else (U, unknown) is null, so never a conflict. -#}
{% macro identity_comparable_gender(column) -%}
    case when {{ column }} in ('M', 'F') then {{ column }} end
{%- endmacro %}
