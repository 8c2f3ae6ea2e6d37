with

-- The rows that meet the landing contract; the others are in landing_quarantine.
landed as (

    select * from {{ ref('base_crm__members') }}
    where rejection_reason is null

),

renamed as (

    select
        'crm' as source_system,
        member_id as source_record_id,
        member_id,

        {{ normalize_identifier("'member_card'", 'member_card_no', 'null') }} as member_card_no,
        {{ normalize_phone('phone') }} as phone,
        {{ normalize_email('email') }} as email,
        {{ normalize_identifier("'wechat_unionid'", 'wechat_unionid', 'null') }} as wechat_unionid,
        member_card_no as member_card_no_raw,
        phone as phone_raw,
        email as email_raw,
        wechat_unionid as wechat_unionid_raw,

        nullif(trim(full_name), '') as full_name,
        case upper(trim(gender)) when 'M' then 'M' when 'F' then 'F' else 'U' end as gender,
        lower(trim(member_level)) as member_level,
        nullif(trim(province), '') as province,
        nullif(trim(city), '') as city,
        lower(trim(registration_channel)) as registration_channel,
        registration_store_id,
        points_balance,
        coalesce(is_paid_member, false) as is_paid_member,
        birth_date,
        registered_at,
        updated_at

    from landed

)

select * from renamed
