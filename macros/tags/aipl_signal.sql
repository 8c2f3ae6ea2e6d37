{#- The AIPL stage a behaviour event signals (domain brief, seed 002). Purchases come from orders;
    repurchase, review and share make loyalty. -#}
{% macro aipl_signal(event_type) -%}
    case
        when {{ event_type }} in ('ad_exposure', 'page_view', 'category_search') then 'awareness'
        when {{ event_type }} in (
            'ad_click', 'home_page_visit', 'interaction', 'product_view', 'brand_search',
            'follow', 'add_to_cart', 'favourite'
        ) then 'interest'
        when {{ event_type }} in ('review', 'share') then 'loyalty'
        else 'unknown'
    end
{%- endmacro %}
