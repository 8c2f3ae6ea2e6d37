{#- One row per person with the order facts every tag rule reads, as of the as-of date. Only paid
    orders up to that day count; refunds reduce spend. -#}
with

members as (

    select * from {{ ref('dim_members') }}

),

orders as (

    select * from {{ ref('int_orders_paid_as_of') }}

),

as_of as (

    select * from {{ ref('int_as_of_date') }}

),

paid_orders as (

    select
        one_id,
        order_id,
        net_amount,
        is_offline,
        order_date,
        as_of_date,
        lag(order_date) over (partition by one_id order by order_date, order_id) as previous_order_date
    from orders

),

order_gaps as (

    select
        one_id,
        {{ median(dbt.datediff('previous_order_date', 'order_date', 'day')) }} as repurchase_cycle_days
    from paid_orders
    where previous_order_date is not null
    group by one_id

),

order_totals as (

    select
        one_id,
        count(*) as paid_order_count,
        sum(net_amount) as lifetime_spend,
        sum(
            case
                when order_date > {{ dbt.dateadd('day', -var('onedata__rfm_period_days'), 'as_of_date') }}
                    then 1
                else 0
            end
        ) as period_order_count,
        sum(
            case
                when order_date > {{ dbt.dateadd('day', -var('onedata__rfm_period_days'), 'as_of_date') }}
                    then net_amount
                else 0
            end
        ) as period_spend,
        bool_or(is_offline) as has_offline_order,
        bool_or(not is_offline) as has_online_order,
        min(order_date) as first_order_date,
        max(order_date) as last_order_date
    from paid_orders
    group by one_id

),

final as (

    select
        members.one_id,
        coalesce(order_totals.paid_order_count, 0) as paid_order_count,
        coalesce(order_totals.period_order_count, 0) as period_order_count,
        coalesce(order_totals.lifetime_spend, 0) as lifetime_spend,
        coalesce(order_totals.period_spend, 0) as period_spend,
        case
            when order_totals.period_order_count > 0
                then order_totals.period_spend / order_totals.period_order_count
        end as period_average_spend,
        order_gaps.repurchase_cycle_days,
        {{ dbt.datediff('order_totals.last_order_date', 'as_of.as_of_date', 'day') }}
            as days_since_last_order,
        {{ dbt.datediff('order_totals.first_order_date', 'as_of.as_of_date', 'day') }}
            as days_since_first_order,
        members.is_loyalty_member,
        coalesce(order_totals.has_offline_order and order_totals.has_online_order, false) as is_composite_buyer,
        order_totals.first_order_date,
        order_totals.last_order_date,
        as_of.as_of_date
    from members
    cross join as_of
    left join order_totals
        on members.one_id = order_totals.one_id
    left join order_gaps
        on members.one_id = order_gaps.one_id

)

select * from final
