with

-- The rows that meet the landing contract; the others are in landing_quarantine.
landed as (

    select * from {{ ref('base_marketplace__buyers') }}
    where rejection_reason is null

),

renamed as (

    select
        lower(trim(platform)) as source_system,
        buyer_id as source_record_id,
        lower(trim(platform)) as platform,

        {{ normalize_identifier("'buyer_id'", 'buyer_id', 'platform') }} as buyer_id,
        -- Platforms mask most phones (138****1234); normalize_phone turns those into null.
        {{ normalize_phone('phone') }} as phone,
        buyer_id as buyer_id_raw,
        phone as phone_raw,

        nullif(trim(buyer_nick), '') as buyer_nick,
        nullif(trim(receiver_name), '') as receiver_name,
        nullif(trim(province), '') as province,
        nullif(trim(city), '') as city,
        first_order_at,
        updated_at

    from landed

)

select * from renamed
