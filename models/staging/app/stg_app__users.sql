with

-- The rows that meet the landing contract; the others are in landing_quarantine.
landed as (

    select * from {{ ref('base_app__users') }}
    where rejection_reason is null

),

renamed as (

    select
        'app' as source_system,
        app_user_id as source_record_id,

        {{ normalize_identifier("'app_user_id'", 'app_user_id', 'null') }} as app_user_id,
        {{ normalize_identifier("'device_id'", 'device_id', 'null') }} as device_id,
        {{ normalize_phone('phone') }} as phone,
        {{ normalize_email('email') }} as email,
        {{ normalize_identifier("'wechat_unionid'", 'wechat_unionid', 'null') }} as wechat_unionid,
        app_user_id as app_user_id_raw,
        device_id as device_id_raw,
        phone as phone_raw,
        email as email_raw,
        wechat_unionid as wechat_unionid_raw,

        registered_at,
        updated_at

    from landed

)

select * from renamed
