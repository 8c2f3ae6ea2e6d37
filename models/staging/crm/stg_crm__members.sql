with

source as (

    select * from {{ source('crm', 'crm_members') }}

),

renamed as (

    select
        'crm' as source_system,
        cast(member_id as {{ dbt.type_string() }}) as source_record_id,
        cast(member_id as {{ dbt.type_string() }}) as member_id,

        {{ normalize_identifier("'member_card'", 'member_card_no', 'null') }} as member_card_no,
        {{ normalize_phone('phone') }} as phone,
        {{ normalize_email('email') }} as email,
        {{ normalize_identifier("'wechat_unionid'", 'wechat_unionid', 'null') }} as wechat_unionid,
        cast(member_card_no as {{ dbt.type_string() }}) as member_card_no_raw,
        cast(phone as {{ dbt.type_string() }}) as phone_raw,
        cast(email as {{ dbt.type_string() }}) as email_raw,
        cast(wechat_unionid as {{ dbt.type_string() }}) as wechat_unionid_raw,

        nullif(trim(full_name), '') as full_name,
        case upper(trim(gender)) when 'M' then 'M' when 'F' then 'F' else 'U' end as gender,
        lower(trim(member_level)) as member_level,
        nullif(trim(province), '') as province,
        nullif(trim(city), '') as city,
        lower(trim(registration_channel)) as registration_channel,
        cast(registration_store_id as {{ dbt.type_string() }}) as registration_store_id,
        cast(points_balance as {{ dbt.type_int() }}) as points_balance,
        coalesce(cast(is_paid_member as {{ dbt.type_boolean() }}), false) as is_paid_member,
        cast(birth_date as date) as birth_date,
        cast(registered_at as {{ dbt.type_timestamp() }}) as registered_at,
        cast(updated_at as {{ dbt.type_timestamp() }}) as updated_at

    from source

)

select * from renamed
