with

-- The rows that meet the landing contract; the others are in landing_quarantine.
landed as (

    select * from {{ ref('base_wecom__external_contacts') }}
    where rejection_reason is null

),

renamed as (

    select
        trim(external_userid) as external_userid,
        trim(follow_userid) as follow_userid,
        {{ normalize_identifier("'wechat_unionid'", 'unionid', 'null') }} as wechat_unionid,
        unionid as wechat_unionid_raw,
        nullif(trim(state), '') as contact_way_state,
        added_at

    from landed

)

select * from renamed
