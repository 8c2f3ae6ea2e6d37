{#- The stable attributes One ID compares, from var onedata__identity_stable_attributes, checked. -#}
{% macro identity_stable_attributes() -%}
    {%- set attributes = var('onedata__identity_stable_attributes') -%}
    {%- for attribute in attributes if attribute not in ['birth_date', 'gender', 'full_name'] -%}
        {{ exceptions.raise_compiler_error(
            "var onedata__identity_stable_attributes: '" ~ attribute
            ~ "' is not a stable attribute; choose from birth_date, gender, full_name"
        ) }}
    {%- endfor -%}
    {{ return(attributes) }}
{%- endmacro %}
