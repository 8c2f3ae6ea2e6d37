{#- The limit that applies to an identifier type, from a var that maps types to limits; the
    `default` entry (if any) covers the types not listed, otherwise they have no limit (null). -#}
{% macro limit_for_type(id_type_column, limits) -%}
    case {{ id_type_column }}
        {%- for id_type, limit in limits.items() if id_type != 'default' %}
            when '{{ id_type }}' then {{ limit | int }}
        {%- endfor %}
        else {{ limits.get('default', 'null') }}
    end
{%- endmacro %}
