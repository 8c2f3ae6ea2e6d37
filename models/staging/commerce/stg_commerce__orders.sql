with

-- The rows that meet the landing contract; the others are in landing_quarantine.
landed as (

    select * from {{ ref('base_commerce__orders') }}
    where rejection_reason is null

),

renamed as (

    select
        order_id,
        store_id,
        lower(trim(customer_source_system)) as customer_source_system,
        customer_source_record_id,
        coupon_id,

        lower(trim(channel)) as channel,
        lower(trim(order_status)) as order_status,
        upper(trim(currency)) as currency,

        gross_amount,
        discount_amount,
        paid_amount,
        coalesce(refund_amount, 0) as refund_amount,

        -- A sale counts once it was paid and not cancelled; refunds reduce its value instead.
        (paid_at is not null and lower(trim(order_status)) <> 'cancelled') as is_paid,
        customer_source_record_id is not null as is_identified_customer,

        ordered_at,
        paid_at

    from landed

)

select * from renamed
