{#- CVM (seed 001): Sales = C x V x M per month and channel, and for all channels together.
    C = consumers (identified people who paid), V = average purchase value (sales per order),
    M = marketing value, the purchases each consumer was moved to make (orders per consumer), so
    that C x V x M is the sales exactly. Against the previous month, each factor's share of the
    change in sales is its log-change share (ln(X / X_prev) / ln(S / S_prev) x delta S): the three
    add up to the change. Anonymous walk-in sales have no consumer and are left out. -#}
with

orders as (

    select * from {{ ref('fct_orders') }}

),

paid_orders as (

    select
        cast({{ dbt.date_trunc('month', 'order_date') }} as date) as period_month,
        channel,
        one_id,
        net_amount
    from orders
    where is_paid and one_id is not null

),

by_channel as (

    select
        period_month,
        channel,
        count(distinct one_id) as consumer_count,
        count(*) as order_count,
        sum(net_amount) as sales
    from paid_orders
    group by period_month, channel

),

all_channels as (

    select
        period_month,
        'all' as channel,
        count(distinct one_id) as consumer_count,
        count(*) as order_count,
        sum(net_amount) as sales
    from paid_orders
    group by period_month

),

factored as (

    select
        period_month,
        channel,
        sales,
        consumer_count,
        sales / order_count as average_purchase_value,
        cast(order_count as double) / consumer_count as purchases_per_consumer,
        lag(sales) over (partition by channel order by period_month) as previous_sales,
        lag(consumer_count) over (partition by channel order by period_month) as previous_consumer_count,
        lag(sales / order_count) over (partition by channel order by period_month) as previous_average_purchase_value,
        lag(cast(order_count as double) / consumer_count) over (
            partition by channel order by period_month
        ) as previous_purchases_per_consumer
    from (
        select * from by_channel
        union all
        select * from all_channels
    ) as unioned

),

final as (

    select
        {{ dbt.concat(['channel', "'|'", 'cast(period_month as ' ~ dbt.type_string() ~ ')']) }} as cvm_key,
        period_month,
        channel,
        sales,
        consumer_count as c_consumers,
        average_purchase_value as v_average_purchase_value,
        purchases_per_consumer as m_purchases_per_consumer,
        previous_sales,
        sales - previous_sales as sales_change,
        {% for factor, current, previous in [
            ('c', 'consumer_count', 'previous_consumer_count'),
            ('v', 'average_purchase_value', 'previous_average_purchase_value'),
            ('m', 'purchases_per_consumer', 'previous_purchases_per_consumer'),
        ] -%}
            case
                when previous_sales > 0 and sales > 0 and sales <> previous_sales
                    and {{ previous }} > 0 and {{ current }} > 0
                    then ln({{ current }} / {{ previous }}) / ln(sales / previous_sales) * (sales - previous_sales)
            end as {{ factor }}_contribution{% if not loop.last %},{% endif %}
        {% endfor %}
    from factored

)

select * from final
