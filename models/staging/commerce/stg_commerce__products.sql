with

source as (

    select * from {{ source('commerce', 'products') }}

),

renamed as (

    select
        cast(product_id as {{ dbt.type_string() }}) as product_id,
        cast(category_id as {{ dbt.type_string() }}) as category_id,
        trim(product_name) as product_name,
        trim(brand_name) as brand_name,
        cast(list_price as decimal(18, 2)) as list_price,
        cast(is_active as {{ dbt.type_boolean() }}) as is_active,
        cast(launched_date as date) as launched_date

    from source

)

select * from renamed
