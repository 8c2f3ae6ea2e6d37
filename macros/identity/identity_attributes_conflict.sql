{#- True when two sides' stable attributes (var onedata__identity_stable_attributes) say they are
    two people: a birth date or a gender known on both sides and different, or a full name known
    on both sides and different while the birth dates do not agree. A name only refuses, never
    joins, and an agreeing birth date outweighs a name written two ways. `left` and `right` are put
    before each attribute's column name ('kept.' reads kept.birth_date, 'earlier_' reads
    earlier_birth_date); genders must be M, F or null. -#}
{% macro identity_attributes_conflict(left, right) -%}
    {%- set attributes = identity_stable_attributes() -%}
    (
        false
        {%- if 'birth_date' in attributes %}
            or coalesce({{ left }}birth_date <> {{ right }}birth_date, false)
        {%- endif %}
        {%- if 'gender' in attributes %}
            or coalesce({{ left }}gender <> {{ right }}gender, false)
        {%- endif %}
        {%- if 'full_name' in attributes %}
            or (
                coalesce({{ left }}full_name <> {{ right }}full_name, false)
                and not coalesce({{ left }}birth_date = {{ right }}birth_date, false)
            )
        {%- endif %}
    )
{%- endmacro %}
