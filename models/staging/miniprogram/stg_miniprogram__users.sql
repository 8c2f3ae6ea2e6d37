with

-- The rows that meet the landing contract; the others are in landing_quarantine.
landed as (

    select * from {{ ref('base_miniprogram__users') }}
    where rejection_reason is null

),

renamed as (

    select
        'miniprogram' as source_system,
        openid as source_record_id,
        app_id,

        {{ normalize_identifier("'wechat_openid'", 'openid', 'app_id') }} as wechat_openid,
        {{ normalize_identifier("'wechat_unionid'", 'unionid', 'null') }} as wechat_unionid,
        {{ normalize_phone('phone') }} as phone,
        openid as wechat_openid_raw,
        unionid as wechat_unionid_raw,
        phone as phone_raw,

        nullif(trim(nickname), '') as nickname,
        case upper(trim(gender)) when 'M' then 'M' when 'F' then 'F' else 'U' end as gender,
        nullif(trim(city), '') as city,
        registered_at,
        updated_at

    from landed

)

select * from renamed
