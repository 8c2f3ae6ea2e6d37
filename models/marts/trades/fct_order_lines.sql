with

order_lines as (

    select * from {{ ref('stg_commerce__order_lines') }}

),

orders as (

    select * from {{ ref('fct_orders') }}

),

products as (

    select * from {{ ref('dim_products') }}

),

final as (

    select
        order_lines.order_line_id,
        order_lines.order_id,
        orders.one_id,
        order_lines.product_id,
        products.category_id,
        products.top_category_id,
        orders.channel,
        order_lines.line_number,
        order_lines.quantity,
        order_lines.unit_price,
        order_lines.line_amount,
        orders.is_paid,
        orders.order_date,
        orders.ordered_at
    from order_lines
    inner join orders
        on order_lines.order_id = orders.order_id
    left join products
        on order_lines.product_id = products.product_id

)

select * from final
