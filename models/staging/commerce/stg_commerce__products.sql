with

-- The rows that meet the landing contract; the others are in landing_quarantine.
landed as (

    select * from {{ ref('base_commerce__products') }}
    where rejection_reason is null

),

renamed as (

    select
        product_id,
        category_id,
        trim(product_name) as product_name,
        trim(brand_name) as brand_name,
        list_price,
        is_active,
        launched_date

    from landed

)

select * from renamed
