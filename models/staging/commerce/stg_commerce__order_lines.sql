with

-- The rows that meet the landing contract; the others are in landing_quarantine.
landed as (

    select * from {{ ref('base_commerce__order_lines') }}
    where rejection_reason is null

),

renamed as (

    select
        {{ dbt.concat([
            "cast(order_id as " ~ dbt.type_string() ~ ")",
            "'-'",
            "cast(line_number as " ~ dbt.type_string() ~ ")",
        ]) }} as order_line_id,
        order_id,
        product_id,
        line_number,
        quantity,
        unit_price,
        line_amount

    from landed

)

select * from renamed
