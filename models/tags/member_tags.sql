{#- The long tag table: one row per person, tag and as-of date, every value as text. Segment rules,
    portraits and history replay read tags from here without knowing each tag's column. -#}
{%- set tags = [
    ('member_level', 'member_level'),
    ('lifecycle_stage', 'lifecycle_stage'),
    ('rfm_group', 'rfm_group'),
    ('rfm_recency_level', 'recency_level'),
    ('rfm_frequency_level', 'frequency_level'),
    ('rfm_monetary_level', 'monetary_level'),
    ('aipl_stage', 'aipl_stage'),
    ('aipl_customer_type', 'aipl_customer_type'),
    ('is_loyalty_member', 'is_loyalty_member'),
    ('is_paid_member', 'is_paid_member'),
    ('is_composite_buyer', 'is_composite_buyer'),
    ('is_high_value', 'is_high_value'),
    ('warning_high_value_lapse', 'is_high_value_lapse_warning'),
    ('warning_growth_lapse', 'is_growth_lapse_warning'),
    ('warning_falling_spend', 'is_falling_spend_warning'),
    ('warning_spend_drop', 'is_spend_drop_warning'),
    ('clv_p_alive', 'p_alive'),
    ('clv_expected_purchases_90d', 'expected_purchases_90d'),
    ('clv_12m', 'clv_12m'),
] -%}
with

member_profiles as (

    select * from {{ ref('member_profiles') }}

),

unpivoted as (

    {% for tag_name, column in tags %}
        select
            one_id,
            '{{ tag_name }}' as tag_name,
            cast({{ column }} as {{ dbt.type_string() }}) as tag_value,
            as_of_date
        from member_profiles
        where {{ column }} is not null
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

)

select * from unpivoted
