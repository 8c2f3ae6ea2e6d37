{#- The one day the tags are computed as of (var onedata__as_of_date; macros/tags/as_of_date.sql:
    a date, 'today' or 'latest', never after the build's own day, on the brand's calendar). Every
    model that counts days up to it reads it from here. A view: one row, computed where read. -#}
{{ config(materialized='view') }}

with

orders as (

    select * from {{ ref('fct_orders') }}

),

final as (

    select {{ as_of_date('orders') }} as as_of_date

)

select * from final
