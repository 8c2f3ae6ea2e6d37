{#- The tag catalogue: one row per tag with its meaning, family, type, allowed values, owner and
    refresh cadence, from the YAML beside member_profiles (macros/tags/tag_columns.sql). `activate
    tags` prints it. -#}
-- depends_on: {{ ref('member_profiles') }}
{% set tags = tag_columns() -%}
with

catalogue as (

    {% for tag in tags %}
        select
            '{{ tag.name }}' as tag_name,
            '{{ tag.family }}' as tag_family,
            '{{ tag.type }}' as value_type,
            {{ "'" ~ (tag['values'] | join(', ') | replace("'", "''")) ~ "'" if tag['values'] else 'cast(null as ' ~ dbt.type_string() ~ ')' }}
                as allowed_values,
            '{{ tag.description | replace("'", "''") | replace("\n", " ") | trim }}' as tag_description,
            '{{ tag.owner }}' as tag_owner,
            '{{ tag.refresh }}' as refresh_cadence,
            {{ loop.index }} as catalogue_order
        {% if not loop.last %}union all{% endif %}
    {% else %}
        select
            cast(null as {{ dbt.type_string() }}) as tag_name,
            cast(null as {{ dbt.type_string() }}) as tag_family,
            cast(null as {{ dbt.type_string() }}) as value_type,
            cast(null as {{ dbt.type_string() }}) as allowed_values,
            cast(null as {{ dbt.type_string() }}) as tag_description,
            cast(null as {{ dbt.type_string() }}) as tag_owner,
            cast(null as {{ dbt.type_string() }}) as refresh_cadence,
            0 as catalogue_order
        where 1 = 0
    {% endfor %}

)

select * from catalogue
