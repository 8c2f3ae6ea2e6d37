with

-- The rows that meet the landing contract; the others are in landing_quarantine.
landed as (

    select * from {{ ref('base_marketing__coupons_redeemed') }}
    where rejection_reason is null

),

renamed as (

    select
        coupon_id,
        order_id,
        redeemed_at

    from landed

)

select * from renamed
