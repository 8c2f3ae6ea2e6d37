{#- One row per person with the behaviour and purchases inside the AIPL window. -#}
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

as_of as (

    select * from {{ ref('int_as_of_date') }}

),

window_events as (

    select
        behavior_events.one_id,
        sum(case when behavior_events.aipl_signal = 'awareness' then 1 else 0 end) as awareness_event_count,
        sum(case when behavior_events.aipl_signal = 'interest' then 1 else 0 end) as interest_event_count,
        sum(case when behavior_events.aipl_signal = 'loyalty' then 1 else 0 end) as loyalty_event_count
    from behavior_events
    cross join as_of
    where
        behavior_events.one_id is not null
        and behavior_events.event_date <= as_of.as_of_date
        and behavior_events.event_date
        > {{ dbt.dateadd('day', -var('onedata__aipl_window_days'), 'as_of.as_of_date') }}
    group by behavior_events.one_id

),

window_orders as (

    select
        one_id,
        count(*) as window_order_count
    from paid_orders
    where days_before_as_of < {{ var('onedata__aipl_window_days') }}
    group by one_id

),

final as (

    select
        members.one_id,
        coalesce(window_events.awareness_event_count, 0) as awareness_event_count,
        coalesce(window_events.interest_event_count, 0) as interest_event_count,
        coalesce(window_events.loyalty_event_count, 0) as loyalty_event_count,
        coalesce(window_orders.window_order_count, 0) as window_order_count,
        as_of.as_of_date
    from members
    cross join as_of
    left join window_events
        on members.one_id = window_events.one_id
    left join window_orders
        on members.one_id = window_orders.one_id

)

select * from final
