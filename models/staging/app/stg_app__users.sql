with

source as (

    select * from {{ source('app', 'app_users') }}

),

renamed as (

    select
        'app' as source_system,
        cast(app_user_id as {{ dbt.type_string() }}) as source_record_id,

        {{ normalize_identifier("'app_user_id'", 'app_user_id', 'null') }} as app_user_id,
        {{ normalize_identifier("'device_id'", 'device_id', 'null') }} as device_id,
        {{ normalize_phone('phone') }} as phone,
        {{ normalize_email('email') }} as email,
        {{ normalize_identifier("'wechat_unionid'", 'wechat_unionid', 'null') }} as wechat_unionid,
        cast(app_user_id as {{ dbt.type_string() }}) as app_user_id_raw,
        cast(device_id as {{ dbt.type_string() }}) as device_id_raw,
        cast(phone as {{ dbt.type_string() }}) as phone_raw,
        cast(email as {{ dbt.type_string() }}) as email_raw,
        cast(wechat_unionid as {{ dbt.type_string() }}) as wechat_unionid_raw,

        cast(registered_at as {{ dbt.type_timestamp() }}) as registered_at,
        cast(updated_at as {{ dbt.type_timestamp() }}) as updated_at

    from source

)

select * from renamed
