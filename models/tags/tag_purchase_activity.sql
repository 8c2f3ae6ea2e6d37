{#- What and how much each person bought, in rolling windows ending on the as-of date: counts,
    spend, basket, refunds, discounts, breadth (channels, categories, products). One row per
    person; people who never bought have zeros and nulls. -#}
{%- set windows = [30, 90, 365] -%}
with

members as (

    select * from {{ ref('dim_members') }}

),

orders as (

    select * from {{ ref('int_orders_paid_as_of') }}

),

order_lines as (

    select * from {{ ref('fct_order_lines') }}

),

as_of as (

    select * from {{ ref('int_as_of_date') }}

),

paid_orders as (

    select
        *,
        days_before_as_of as days_ago,
        row_number() over (partition by one_id order by ordered_at, order_id) as order_rank,
        row_number() over (partition by one_id order by ordered_at desc, order_id desc) as order_rank_desc
    from orders

),

order_totals as (

    select
        one_id,
        {% for days in windows -%}
            sum(case when days_ago < {{ days }} then 1 else 0 end) as order_count_{{ days }}d,
            sum(case when days_ago < {{ days }} then net_amount else 0 end) as spend_{{ days }}d,
        {% endfor -%}
        count(*) as paid_order_count,
        avg(net_amount) as average_order_value,
        max(net_amount) as max_order_value,
        sum(case when is_refunded then 1 else 0 end) as refunded_order_count,
        sum(discount_amount) as discount_amount,
        sum(gross_amount) as gross_amount,
        sum(case when is_offline then 1 else 0 end) as offline_order_count,
        sum(case when is_offline then 0 else 1 end) as online_order_count,
        count(distinct channel) as distinct_channel_count,
        count(distinct case when days_ago < 365 then {{ dbt.date_trunc('month', 'order_date') }} end)
            as active_month_count_365d,
        max(case when order_rank = 1 then channel end) as first_order_channel,
        max(case when order_rank_desc = 1 then channel end) as last_order_channel
    from paid_orders
    group by one_id

),

line_totals as (

    select
        order_lines.one_id,
        count(distinct order_lines.category_id) as distinct_category_count,
        count(distinct order_lines.product_id) as distinct_product_count,
        sum(order_lines.quantity) as units_bought
    from order_lines
    inner join paid_orders
        on order_lines.order_id = paid_orders.order_id
    group by order_lines.one_id

),

final as (

    select
        members.one_id,
        {% for days in windows -%}
            coalesce(order_totals.order_count_{{ days }}d, 0) as order_count_{{ days }}d,
            coalesce(order_totals.spend_{{ days }}d, 0) as spend_{{ days }}d,
        {% endfor -%}
        order_totals.average_order_value,
        order_totals.max_order_value,
        coalesce(order_totals.refunded_order_count, 0) as refunded_order_count,
        cast(order_totals.refunded_order_count as double) / order_totals.paid_order_count
            as refund_rate,
        case
            when order_totals.gross_amount > 0 then order_totals.discount_amount / order_totals.gross_amount
        end as discount_share,
        coalesce(order_totals.online_order_count, 0) as online_order_count,
        coalesce(order_totals.offline_order_count, 0) as offline_order_count,
        coalesce(order_totals.distinct_channel_count, 0) as distinct_channel_count,
        coalesce(order_totals.active_month_count_365d, 0) as active_month_count_365d,
        order_totals.first_order_channel,
        order_totals.last_order_channel,
        coalesce(line_totals.distinct_category_count, 0) as distinct_category_count,
        coalesce(line_totals.distinct_product_count, 0) as distinct_product_count,
        coalesce(line_totals.units_bought, 0) as units_bought,
        as_of.as_of_date
    from members
    cross join as_of
    left join order_totals
        on members.one_id = order_totals.one_id
    left join line_totals
        on members.one_id = line_totals.one_id

)

select * from final
