with

products as (

    select * from {{ ref('stg_commerce__products') }}

),

categories as (

    select * from {{ ref('dim_categories') }}

),

final as (

    select
        products.product_id,
        products.category_id,
        categories.top_category_id,
        products.product_name,
        products.brand_name,
        categories.category_name,
        categories.top_category_name,
        products.list_price,
        products.is_active,
        products.launched_date
    from products
    left join categories
        on products.category_id = categories.category_id

)

select * from final
