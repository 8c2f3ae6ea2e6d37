with

source as (

    select * from {{ source('commerce', 'categories') }}

),

renamed as (

    select
        cast(category_id as {{ dbt.type_string() }}) as category_id,
        cast(parent_category_id as {{ dbt.type_string() }}) as parent_category_id,
        trim(category_name) as category_name,
        cast(category_level as {{ dbt.type_int() }}) as category_level

    from source

)

select * from renamed
