{#- The date tags are computed as of (var onedata__as_of_date): a literal date, or 'latest' for the
    day of the latest paid order landed, so that a replayed or demo data set is tagged as of its
    own end. `orders` must be a relation with order_date and is_paid. -#}
{% macro as_of_date(orders) -%}
    {%- if var('onedata__as_of_date') == 'latest' -%}
        (select max(order_date) from {{ orders }} where is_paid)
    {%- else -%}
        cast('{{ var("onedata__as_of_date") }}' as date)
    {%- endif -%}
{%- endmacro %}
