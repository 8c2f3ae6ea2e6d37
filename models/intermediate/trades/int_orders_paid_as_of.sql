{#- The orders the tags count, said once: paid (and not cancelled: fct_orders.is_paid), of a known
    person, placed up to the as-of date; fct_orders' columns (is_paid and is_identified_customer are true
    here) with that date and how many days before it each order was placed. A view over fct_orders: each reader filters it as it scans, as before. -#}
{{ config(materialized='view') }}

with

orders as (

    select * from {{ ref('fct_orders') }}

),

as_of as (

    select * from {{ ref('int_as_of_date') }}

),

final as (

    select
        orders.order_id,
        orders.one_id,
        orders.store_id,
        orders.coupon_id,
        orders.customer_source_system,
        orders.customer_source_record_id,
        orders.channel,
        orders.order_status,
        orders.currency,
        orders.gross_amount,
        orders.discount_amount,
        orders.paid_amount,
        orders.refund_amount,
        orders.net_amount,
        orders.is_refunded,
        orders.is_offline,
        orders.order_date,
        orders.ordered_at,
        orders.paid_at,
        as_of.as_of_date,
        {{ dbt.datediff('orders.order_date', 'as_of.as_of_date', 'day') }}
            as days_before_as_of
    from orders
    cross join as_of
    where
        orders.is_paid
        and orders.one_id is not null
        and orders.order_date <= as_of.as_of_date

)

select * from final
