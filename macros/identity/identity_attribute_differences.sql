{#- The attributes two sides disagree on, as text ('birth_date, full_name'), null when none: the
    evidence a data steward reads. Values are left out: they are personal data. -#}
{% macro identity_attribute_differences(left, right) -%}
    {%- set attributes = identity_stable_attributes() -%}
    nullif(concat_ws(
        ', '
        {%- for attribute in attributes %},
        case when {{ left }}{{ attribute }} <> {{ right }}{{ attribute }} then '{{ attribute }}' end
        {%- endfor %}
    ), '')
{%- endmacro %}
