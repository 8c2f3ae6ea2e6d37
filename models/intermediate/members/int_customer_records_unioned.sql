{#- Every customer source record in one shape, with the attributes the golden record chooses from.
    source_priority ranks how far each system is trusted for personal attributes (1 = most),
    from var onedata__survivorship_source_priority. full_name is the name a member registered in
    the CRM: One ID compares it to refuse a join. A till's typed name (often an honorific), a
    parcel's receiver and a nickname are only display_name. -#}
{%- set null_string = 'cast(null as ' ~ dbt.type_string() ~ ')' -%}
with

crm_members as (

    select * from {{ ref('stg_crm__members') }}

),

pos_customers as (

    select * from {{ ref('stg_pos__customers') }}

),

marketplace_buyers as (

    select * from {{ ref('stg_marketplace__buyers') }}

),

miniprogram_users as (

    select * from {{ ref('stg_miniprogram__users') }}

),

app_users as (

    select * from {{ ref('stg_app__users') }}

),

unioned as (

    select
        source_system,
        source_record_id,
        full_name as display_name,
        full_name,
        gender,
        province,
        city,
        phone,
        email,
        wechat_unionid,
        {{ null_string }} as wechat_openid,
        {{ null_string }} as app_device_id,
        member_card_no,
        member_level,
        registration_channel,
        points_balance,
        {{ source_priority('source_system') }} as source_priority,
        is_paid_member,
        true as is_loyalty_member,
        birth_date,
        registered_at,
        updated_at
    from crm_members

    union all

    select
        source_system,
        source_record_id,
        full_name as display_name,
        {{ null_string }} as full_name,
        'U' as gender,
        {{ null_string }} as province,
        {{ null_string }} as city,
        phone,
        {{ null_string }} as email,
        {{ null_string }} as wechat_unionid,
        {{ null_string }} as wechat_openid,
        {{ null_string }} as app_device_id,
        member_card_no,
        {{ null_string }} as member_level,
        'pos' as registration_channel,
        cast(null as {{ dbt.type_int() }}) as points_balance,
        {{ source_priority('source_system') }} as source_priority,
        false as is_paid_member,
        false as is_loyalty_member,
        cast(null as date) as birth_date,
        first_seen_at as registered_at,
        updated_at
    from pos_customers

    union all

    select
        source_system,
        source_record_id,
        receiver_name as display_name,
        {{ null_string }} as full_name,
        'U' as gender,
        province,
        city,
        phone,
        {{ null_string }} as email,
        {{ null_string }} as wechat_unionid,
        {{ null_string }} as wechat_openid,
        {{ null_string }} as app_device_id,
        {{ null_string }} as member_card_no,
        {{ null_string }} as member_level,
        platform as registration_channel,
        cast(null as {{ dbt.type_int() }}) as points_balance,
        {{ source_priority('source_system') }} as source_priority,
        false as is_paid_member,
        false as is_loyalty_member,
        cast(null as date) as birth_date,
        first_order_at as registered_at,
        updated_at
    from marketplace_buyers

    union all

    select
        source_system,
        source_record_id,
        nickname as display_name,
        {{ null_string }} as full_name,
        gender,
        {{ null_string }} as province,
        city,
        phone,
        {{ null_string }} as email,
        wechat_unionid,
        wechat_openid,
        {{ null_string }} as app_device_id,
        {{ null_string }} as member_card_no,
        {{ null_string }} as member_level,
        'miniprogram' as registration_channel,
        cast(null as {{ dbt.type_int() }}) as points_balance,
        {{ source_priority('source_system') }} as source_priority,
        false as is_paid_member,
        false as is_loyalty_member,
        cast(null as date) as birth_date,
        registered_at,
        updated_at
    from miniprogram_users

    union all

    select
        source_system,
        source_record_id,
        {{ null_string }} as display_name,
        {{ null_string }} as full_name,
        'U' as gender,
        {{ null_string }} as province,
        {{ null_string }} as city,
        phone,
        email,
        wechat_unionid,
        {{ null_string }} as wechat_openid,
        device_id as app_device_id,
        {{ null_string }} as member_card_no,
        {{ null_string }} as member_level,
        'app' as registration_channel,
        cast(null as {{ dbt.type_int() }}) as points_balance,
        {{ source_priority('source_system') }} as source_priority,
        false as is_paid_member,
        false as is_loyalty_member,
        cast(null as date) as birth_date,
        registered_at,
        updated_at
    from app_users

)

select * from unioned
