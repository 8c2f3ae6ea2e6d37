{#- Every column of member_profiles is either a key (one_id, dates) or a catalogued tag, and every
    catalogued tag is a column: a tag added without its YAML, or YAML left behind, fails here. -#}
{%- set keys = ['one_id', 'first_order_date', 'last_order_date', 'as_of_date'] -%}
-- depends_on: {{ ref('member_profiles') }}
{% set columns = adapter.get_columns_in_relation(ref('member_profiles')) if execute else [] %}
with

profile_columns as (

    {% for column in columns if column.name | lower not in keys %}
        select '{{ column.name | lower }}' as tag_name
        {% if not loop.last %}union all{% endif %}
    {% else %}
        select cast(null as {{ dbt.type_string() }}) as tag_name where 1 = 0
    {% endfor %}

),

catalogue as (

    select tag_name from {{ ref('tag_catalogue') }}

)

select 'column not catalogued' as problem, profile_columns.tag_name
from profile_columns
left join catalogue on profile_columns.tag_name = catalogue.tag_name
where catalogue.tag_name is null

union all

select 'catalogued tag is not a column' as problem, catalogue.tag_name
from catalogue
left join profile_columns on catalogue.tag_name = profile_columns.tag_name
where profile_columns.tag_name is null
