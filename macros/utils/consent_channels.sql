{#- The touch-point channels that need consent (docs/landing-contract.md, "Channel codes").
    Each becomes an is_<channel>_consented flag on members and on every audience. -#}
{% macro consent_channels() -%}
    {{ return(['sms', 'email', 'wecom', 'wechat', 'app_push', 'ad_platform']) }}
{%- endmacro %}
