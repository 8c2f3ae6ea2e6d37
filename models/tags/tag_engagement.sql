{#- How each person engages with the brand's touch points, from behaviour events up to the as-of
    date: activity in the last 30 days by event type, shares and reviews over a year, recency of
    the last event, an abandoned cart and the category most looked at. One row per person. -#}
{%- set recent_event_types = ['page_view', 'product_view', 'add_to_cart', 'favourite', 'ad_click'] -%}
with

members as (

    select * from {{ ref('dim_members') }}

),

behavior_events as (

    select * from {{ ref('fct_behavior_events') }}

),

paid_orders as (

    select * from {{ ref('int_orders_paid_as_of') }}

),

categories as (

    select * from {{ ref('dim_categories') }}

),

as_of as (

    select * from {{ ref('int_as_of_date') }}

),

events as (

    select
        behavior_events.one_id,
        behavior_events.event_type,
        behavior_events.category_id,
        behavior_events.event_date,
        behavior_events.occurred_at,
        {{ dbt.datediff('behavior_events.event_date', 'as_of.as_of_date', 'day') }}
            as days_ago
    from behavior_events
    cross join as_of
    where behavior_events.one_id is not null and behavior_events.event_date <= as_of.as_of_date

),

event_totals as (

    select
        one_id,
        sum(case when days_ago < 30 then 1 else 0 end) as event_count_30d,
        {% for event_type in recent_event_types -%}
            sum(case when days_ago < 30 and event_type = '{{ event_type }}' then 1 else 0 end)
                as {{ event_type }}_count_30d,
        {% endfor -%}
        sum(case when days_ago < 30 and event_type in ('category_search', 'brand_search') then 1 else 0 end)
            as search_count_30d,
        sum(case when days_ago < 365 and event_type = 'share' then 1 else 0 end) as share_count_365d,
        sum(case when days_ago < 365 and event_type = 'review' then 1 else 0 end) as review_count_365d,
        min(days_ago) as days_since_last_event,
        max(case when event_type = 'add_to_cart' and days_ago < {{ var('onedata__abandoned_cart_days') }}
                then occurred_at
        end) as last_recent_cart_at
    from events
    group by one_id

),

last_paid_orders as (

    select
        one_id,
        max(ordered_at) as last_ordered_at
    from paid_orders
    group by one_id

),

recent_product_views as (

    select
        one_id,
        category_id
    from events
    where days_ago < 90 and event_type = 'product_view'

),

viewed_category_ranks as (

    {{ ranked_preferences('recent_product_views', 'category_id', '1') }}

),

final as (

    select
        members.one_id,
        coalesce(event_totals.event_count_30d, 0) as event_count_30d,
        {% for event_type in recent_event_types -%}
            coalesce(event_totals.{{ event_type }}_count_30d, 0) as {{ event_type }}_count_30d,
        {% endfor -%}
        coalesce(event_totals.search_count_30d, 0) as search_count_30d,
        coalesce(event_totals.share_count_365d, 0) as share_count_365d,
        coalesce(event_totals.review_count_365d, 0) as review_count_365d,
        event_totals.days_since_last_event,
        coalesce(event_totals.event_count_30d, 0) > 0 as is_active_30d,
        -- A cart put together recently with no paid order placed after it.
        coalesce(
            event_totals.last_recent_cart_at is not null
            and (
                last_paid_orders.last_ordered_at is null
                or last_paid_orders.last_ordered_at < event_totals.last_recent_cart_at
            ),
            false
        ) as has_abandoned_cart,
        case
            when coalesce(event_totals.event_count_30d, 0) = 0 then 'none'
            when event_totals.event_count_30d >= {{ var('onedata__engagement_high_min_events_30d') }} then 'high'
            when event_totals.event_count_30d >= {{ var('onedata__engagement_medium_min_events_30d') }} then 'medium'
            else 'low'
        end as engagement_level,
        categories.category_name as most_viewed_category_90d,
        as_of.as_of_date
    from members
    cross join as_of
    left join event_totals
        on members.one_id = event_totals.one_id
    left join last_paid_orders
        on members.one_id = last_paid_orders.one_id
    left join viewed_category_ranks
        on members.one_id = viewed_category_ranks.one_id and viewed_category_ranks.preference_rank = 1
    left join categories
        on viewed_category_ranks.preference_value = categories.category_id

)

select * from final
