{#- The date tags are computed as of (var onedata__as_of_date), on the brand's calendar: a literal
    date (a replay), 'today' (the build's own day), or 'latest': the day of the latest paid order
    landed, so that a demo or replayed data set is tagged as of its own end. Never later than the
    build's own day: an order dated ahead of the clock (quarantined anyway, as in_the_future)
    must not move every tag. `orders` must be a relation with order_date and is_paid. -#}
{% macro as_of_date(orders) -%}
    {%- set build_date = "cast('" ~ build_local_date() ~ "' as date)" -%}
    {%- if var('onedata__as_of_date') == 'latest' -%}
        (
            select least(max(order_date), {{ build_date }})
            from {{ orders }}
            where is_paid and order_date <= {{ build_date }}
        )
    {%- elif var('onedata__as_of_date') == 'today' -%}
        {{ build_date }}
    {%- else -%}
        cast('{{ var("onedata__as_of_date") }}' as date)
    {%- endif -%}
{%- endmacro %}
