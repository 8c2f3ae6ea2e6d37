{#- Each buying member's net spend in each of the last complete calendar months before the as-of
    date, 0 for a month without a paid order. month_number 1 is the latest complete month. Only
    members with a paid order in the window appear. -#}
{%- set months = [var('onedata__warning_falling_months') + 1,
                  var('onedata__warning_spend_drop_comparison_months') + 1] | max -%}
with

paid_orders as (

    select * from {{ ref('int_orders_paid_as_of') }}

),

as_of as (

    select * from {{ ref('int_as_of_date') }}

),

calendar_months as (

    {% for month_number in range(1, months + 1) %}
        select
            {{ month_number }} as month_number,
            cast({{ dbt.dateadd('month', -month_number, dbt.date_trunc('month', 'as_of.as_of_date')) }} as date)
                as month_start,
            cast({{ dbt.dateadd('month', 1 - month_number, dbt.date_trunc('month', 'as_of.as_of_date')) }} as date)
                as next_month_start,
            as_of.as_of_date
        from as_of
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

paid_orders_in_window as (

    select
        paid_orders.one_id,
        calendar_months.month_number,
        paid_orders.net_amount
    from paid_orders
    inner join calendar_months
        on
            paid_orders.order_date >= calendar_months.month_start
            and paid_orders.order_date < calendar_months.next_month_start

),

buying_members as (

    select distinct one_id
    from paid_orders_in_window

),

final as (

    select
        buying_members.one_id,
        calendar_months.month_number,
        calendar_months.month_start,
        coalesce(sum(paid_orders_in_window.net_amount), 0) as net_spend,
        calendar_months.as_of_date
    from buying_members
    cross join calendar_months
    left join paid_orders_in_window
        on
            buying_members.one_id = paid_orders_in_window.one_id
            and calendar_months.month_number = paid_orders_in_window.month_number
    group by
        buying_members.one_id,
        calendar_months.month_number,
        calendar_months.month_start,
        calendar_months.as_of_date

)

select * from final
