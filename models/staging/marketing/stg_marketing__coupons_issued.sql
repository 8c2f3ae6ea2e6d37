with

-- The rows that meet the landing contract; the others are in landing_quarantine.
landed as (

    select * from {{ ref('base_marketing__coupons_issued') }}
    where rejection_reason is null

),

renamed as (

    select
        coupon_id,
        campaign_id,
        lower(trim(source_system)) as source_system,
        source_record_id,
        lower(trim(coupon_type)) as coupon_type,
        lower(trim(channel)) as channel,
        face_value,
        min_spend,
        issued_at,
        expires_at

    from landed

)

select * from renamed
