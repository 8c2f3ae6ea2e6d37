with

-- The rows that meet the landing contract; the others are in landing_quarantine.
landed as (

    select * from {{ ref('base_commerce__stores') }}
    where rejection_reason is null

),

renamed as (

    select
        store_id,
        trim(store_name) as store_name,
        lower(trim(channel)) as channel,
        nullif(trim(province), '') as province,
        nullif(trim(city), '') as city,
        -- Cashiers type the store's own number for walk-ins; One ID blocks it.
        {{ normalize_phone('store_phone') }} as store_phone,
        lower(trim(channel)) = 'pos' as is_physical_store,
        opened_date

    from landed

)

select * from renamed
