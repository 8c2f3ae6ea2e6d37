{#- How far a source system is trusted for personal attributes: its position (1 = most trusted)
    in var onedata__survivorship_source_priority; systems not listed come last. -#}
{% macro source_priority(source_system_column) -%}
    {%- set systems = var('onedata__survivorship_source_priority') -%}
    case {{ source_system_column }}
        {%- for system in systems %}
            when '{{ system }}' then {{ loop.index }}
        {%- endfor %}
        else {{ systems | length + 1 }}
    end
{%- endmacro %}
