with

-- The rows that meet the landing contract; the others are in landing_quarantine.
landed as (

    select * from {{ ref('base_commerce__categories') }}
    where rejection_reason is null

),

renamed as (

    select
        category_id,
        parent_category_id,
        trim(category_name) as category_name,
        category_level

    from landed

)

select * from renamed
