with

coupons_issued as (

    select * from {{ ref('stg_marketing__coupons_issued') }}

),

coupons_redeemed as (

    select * from {{ ref('stg_marketing__coupons_redeemed') }}

),

source_records as (

    select * from {{ ref('dim_source_records') }}

),

final as (

    select
        coupons_issued.coupon_id,
        source_records.one_id,
        coupons_issued.campaign_id,
        coupons_redeemed.order_id,
        coupons_issued.coupon_type,
        coupons_issued.channel,
        coupons_issued.face_value,
        coupons_issued.min_spend,
        coupons_redeemed.coupon_id is not null as is_redeemed,
        coupons_issued.issued_at,
        coupons_issued.expires_at,
        coupons_redeemed.redeemed_at
    from coupons_issued
    left join coupons_redeemed
        on coupons_issued.coupon_id = coupons_redeemed.coupon_id
    left join source_records
        on
            coupons_issued.source_system = source_records.source_system
            and coupons_issued.source_record_id = source_records.source_record_id

)

select * from final
