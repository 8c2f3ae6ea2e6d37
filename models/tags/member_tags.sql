{#- The long tag table: one row per person, tag and as-of date, every value as text. Segment rules,
    portraits and history replay read tags from here without knowing each tag's column. The tags
    are the member_profiles columns documented with `meta.tag` (macros/tags/tag_columns.sql). -#}
with

member_profiles as (

    select * from {{ ref('member_profiles') }}

),

unpivoted as (

    {% for tag in tag_columns() %}
        select
            one_id,
            '{{ tag.name }}' as tag_name,
            cast({{ tag.name }} as {{ dbt.type_string() }}) as tag_value,
            as_of_date
        from member_profiles
        where {{ tag.name }} is not null
        {% if not loop.last %}union all{% endif %}
    {% else %}
        select
            cast(null as {{ dbt.type_string() }}) as one_id,
            cast(null as {{ dbt.type_string() }}) as tag_name,
            cast(null as {{ dbt.type_string() }}) as tag_value,
            cast(null as date) as as_of_date
        from member_profiles
        where 1 = 0
    {% endfor %}

)

select * from unpivoted
