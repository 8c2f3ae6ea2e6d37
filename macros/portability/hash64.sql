{#- A 64-bit hash of a string, as an integer: fast to join and group on. Not the same value on
    every engine, so never store it: use it inside one build only. -#}
{% macro hash64(expression) -%}
    {{ return(adapter.dispatch('hash64', 'onedata')(expression)) }}
{%- endmacro %}

{% macro default__hash64(expression) -%}
    xxhash64({{ expression }})
{%- endmacro %}

{% macro duckdb__hash64(expression) -%}
    hash({{ expression }})
{%- endmacro %}
