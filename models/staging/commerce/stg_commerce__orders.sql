with

source as (

    select * from {{ source('commerce', 'orders') }}

),

renamed as (

    select
        cast(order_id as {{ dbt.type_string() }}) as order_id,
        cast(store_id as {{ dbt.type_string() }}) as store_id,
        lower(trim(customer_source_system)) as customer_source_system,
        cast(customer_source_record_id as {{ dbt.type_string() }}) as customer_source_record_id,
        cast(coupon_id as {{ dbt.type_string() }}) as coupon_id,

        lower(trim(channel)) as channel,
        lower(trim(order_status)) as order_status,
        upper(trim(currency)) as currency,

        cast(gross_amount as decimal(18, 2)) as gross_amount,
        cast(discount_amount as decimal(18, 2)) as discount_amount,
        cast(paid_amount as decimal(18, 2)) as paid_amount,
        coalesce(cast(refund_amount as decimal(18, 2)), 0) as refund_amount,

        -- A sale counts once it was paid and not cancelled; refunds reduce its value instead.
        (paid_at is not null and lower(trim(order_status)) <> 'cancelled') as is_paid,
        customer_source_record_id is not null as is_identified_customer,

        cast(ordered_at as {{ dbt.type_timestamp() }}) as ordered_at,
        cast(paid_at as {{ dbt.type_timestamp() }}) as paid_at

    from source

)

select * from renamed
