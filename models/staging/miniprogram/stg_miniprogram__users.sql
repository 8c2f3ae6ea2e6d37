with

source as (

    select * from {{ source('miniprogram', 'miniprogram_users') }}

),

renamed as (

    select
        'miniprogram' as source_system,
        cast(openid as {{ dbt.type_string() }}) as source_record_id,
        cast(app_id as {{ dbt.type_string() }}) as app_id,

        {{ normalize_identifier("'wechat_openid'", 'openid', 'app_id') }} as wechat_openid,
        {{ normalize_identifier("'wechat_unionid'", 'unionid', 'null') }} as wechat_unionid,
        {{ normalize_phone('phone') }} as phone,
        cast(openid as {{ dbt.type_string() }}) as wechat_openid_raw,
        cast(unionid as {{ dbt.type_string() }}) as wechat_unionid_raw,
        cast(phone as {{ dbt.type_string() }}) as phone_raw,

        nullif(trim(nickname), '') as nickname,
        case upper(trim(gender)) when 'M' then 'M' when 'F' then 'F' else 'U' end as gender,
        nullif(trim(city), '') as city,
        cast(registered_at as {{ dbt.type_timestamp() }}) as registered_at,
        cast(updated_at as {{ dbt.type_timestamp() }}) as updated_at

    from source

)

select * from renamed
