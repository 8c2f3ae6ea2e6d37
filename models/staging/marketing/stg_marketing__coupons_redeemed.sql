with

source as (

    select * from {{ source('marketing', 'coupons_redeemed') }}

),

renamed as (

    select
        cast(coupon_id as {{ dbt.type_string() }}) as coupon_id,
        cast(order_id as {{ dbt.type_string() }}) as order_id,
        cast(redeemed_at as {{ dbt.type_timestamp() }}) as redeemed_at

    from source

)

select * from renamed
