{#- The touch-point channels that need consent (docs/landing-contract.md, "Channel codes"), from
    the one list in dbt_project.yml (var onedata__consent_channels), which the activation CLI reads
    too. Each becomes an is_<channel>_consented flag on members and on every audience. -#}
{% macro consent_channels() -%}
    {{ return(var('onedata__consent_channels')) }}
{%- endmacro %}
