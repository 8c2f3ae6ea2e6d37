{#- The AIPL stage a behaviour event signals (domain brief, seed 002; the lists are
    behavior_event_types_by_stage). Purchases come from orders; repurchase, review and share make
    loyalty. -#}
{% macro aipl_signal(event_type) -%}
    case
        {%- for stage, event_types in behavior_event_types_by_stage().items() %}
        when {{ event_type }} in ('{{ event_types | join("', '") }}') then '{{ stage }}'
        {%- endfor %}
        else 'unknown'
    end
{%- endmacro %}
