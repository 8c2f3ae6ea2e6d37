with

orders as (

    select * from {{ ref('stg_commerce__orders') }}

),

source_records as (

    select * from {{ ref('dim_source_records') }}

),

stores as (

    select * from {{ ref('stg_commerce__stores') }}

),

final as (

    select
        orders.order_id,
        source_records.one_id,
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
        orders.paid_amount - orders.refund_amount as net_amount,
        orders.is_paid,
        orders.refund_amount > 0 as is_refunded,
        orders.is_identified_customer,
        coalesce(stores.is_physical_store, orders.channel = 'pos') as is_offline,
        {{ to_local_date('orders.ordered_at') }} as order_date,
        orders.ordered_at,
        orders.paid_at
    from orders
    left join source_records
        on
            orders.customer_source_system = source_records.source_system
            and orders.customer_source_record_id = source_records.source_record_id
    left join stores
        on orders.store_id = stores.store_id

)

select * from final
