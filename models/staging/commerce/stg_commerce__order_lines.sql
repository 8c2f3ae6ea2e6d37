with

source as (

    select * from {{ source('commerce', 'order_lines') }}

),

renamed as (

    select
        {{ dbt.concat([
            "cast(order_id as " ~ dbt.type_string() ~ ")",
            "'-'",
            "cast(line_number as " ~ dbt.type_string() ~ ")",
        ]) }} as order_line_id,
        cast(order_id as {{ dbt.type_string() }}) as order_id,
        cast(product_id as {{ dbt.type_string() }}) as product_id,
        cast(line_number as {{ dbt.type_int() }}) as line_number,
        cast(quantity as {{ dbt.type_int() }}) as quantity,
        cast(unit_price as decimal(18, 2)) as unit_price,
        cast(line_amount as decimal(18, 2)) as line_amount

    from source

)

select * from renamed
