{#- The exact q-quantile (0 <= q <= 1) of a numeric expression, interpolated, as an aggregate. -#}
{% macro quantile(expression, q) -%}
    {{ return(adapter.dispatch('quantile', 'onedata')(expression, q)) }}
{%- endmacro %}

{% macro default__quantile(expression, q) -%}
    quantile_cont({{ expression }}, {{ q }})
{%- endmacro %}

{% macro spark__quantile(expression, q) -%}
    percentile({{ expression }}, {{ q }})
{%- endmacro %}
