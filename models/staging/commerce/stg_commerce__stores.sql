with

source as (

    select * from {{ source('commerce', 'stores') }}

),

renamed as (

    select
        cast(store_id as {{ dbt.type_string() }}) as store_id,
        trim(store_name) as store_name,
        lower(trim(channel)) as channel,
        nullif(trim(province), '') as province,
        nullif(trim(city), '') as city,
        -- Cashiers type the store's own number for walk-ins; One ID blocks it.
        {{ normalize_phone('store_phone') }} as store_phone,
        lower(trim(channel)) = 'pos' as is_physical_store,
        cast(opened_date as date) as opened_date

    from source

)

select * from renamed
