with

source as (

    select * from {{ source('marketplace', 'marketplace_buyers') }}

),

renamed as (

    select
        lower(trim(platform)) as source_system,
        cast(buyer_id as {{ dbt.type_string() }}) as source_record_id,
        lower(trim(platform)) as platform,

        {{ normalize_identifier("'buyer_id'", 'buyer_id', 'platform') }} as buyer_id,
        -- Platforms mask most phones (138****1234); normalize_phone turns those into null.
        {{ normalize_phone('phone') }} as phone,
        cast(buyer_id as {{ dbt.type_string() }}) as buyer_id_raw,
        cast(phone as {{ dbt.type_string() }}) as phone_raw,

        nullif(trim(buyer_nick), '') as buyer_nick,
        nullif(trim(receiver_name), '') as receiver_name,
        nullif(trim(province), '') as province,
        nullif(trim(city), '') as city,
        cast(first_order_at as {{ dbt.type_timestamp() }}) as first_order_at,
        cast(updated_at as {{ dbt.type_timestamp() }}) as updated_at

    from source

)

select * from renamed
