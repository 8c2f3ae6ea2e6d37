{#- Abnormal-behaviour warnings (seed 003), react at once: a member whose monthly spend fell
    month after month (var onedata__warning_falling_months declines in a row, ending with the
    latest complete month), and a member who bought in each comparison month (var
    onedata__warning_spend_drop_comparison_months) and whose latest complete month's spend fell by
    more than var onedata__warning_spend_drop_share against their average: for an irregular buyer
    an empty month is no news. Months are calendar months before the as-of date's month. -#}
{%- set falling_months = var('onedata__warning_falling_months') -%}
{%- set comparison_months = var('onedata__warning_spend_drop_comparison_months') -%}
with

monthly_spend as (

    select * from {{ ref('int_member_monthly_spend') }}

),

pivoted as (

    select
        one_id,
        {% for month_number in range(1, [falling_months, comparison_months] | max + 2) %}
            max(case when month_number = {{ month_number }} then net_spend end) as spend_month_{{ month_number }},
        {% endfor %}
        max(as_of_date) as as_of_date
    from monthly_spend
    group by one_id

),

compared as (

    select
        *,
        (
            {%- for month_number in range(2, comparison_months + 2) %}
                spend_month_{{ month_number }}{% if not loop.last %} +{% endif %}
            {%- endfor %}
        ) / {{ comparison_months }} as comparison_average_spend,
        (
            {%- for month_number in range(2, comparison_months + 2) %}
                spend_month_{{ month_number }} > 0{% if not loop.last %} and{% endif %}
            {%- endfor %}
        ) as bought_every_comparison_month
    from pivoted

),

final as (

    select
        one_id,
        spend_month_1 as latest_month_spend,
        comparison_average_spend,
        (
            {%- for month_number in range(1, falling_months + 1) %}
                spend_month_{{ month_number }} < spend_month_{{ month_number + 1 }}
                {%- if not loop.last %} and{% endif %}
            {%- endfor %}
        ) as is_falling_spend_warning,
        (
            bought_every_comparison_month
            and spend_month_1 < (1 - {{ var('onedata__warning_spend_drop_share') }}) * comparison_average_spend
        ) as is_spend_drop_warning,
        as_of_date
    from compared

)

select * from final
