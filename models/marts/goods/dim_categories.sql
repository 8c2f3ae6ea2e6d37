with

categories as (

    select * from {{ ref('stg_commerce__categories') }}

),

final as (

    select
        categories.category_id,
        categories.parent_category_id,
        coalesce(parent.category_id, categories.category_id) as top_category_id,
        categories.category_name,
        coalesce(parent.category_name, categories.category_name) as top_category_name,
        categories.category_level
    from categories
    left join categories as parent
        on categories.parent_category_id = parent.category_id

)

select * from final
