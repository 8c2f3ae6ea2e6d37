{#- AIPL (seed 002) inside the window: Loyalty = repurchase, or a purchase plus a review or share;
    Purchase = bought; Interest = an interest event; Awareness = an awareness event. A and I are
    new customers, P and L old ones. -#}
with

member_behavior as (

    select * from {{ ref('int_member_behavior_summarised') }}

),

staged as (

    select
        one_id,
        case
            when window_order_count >= 2 then 'loyalty'
            when window_order_count >= 1 and loyalty_event_count > 0 then 'loyalty'
            when window_order_count >= 1 then 'purchase'
            when interest_event_count > 0 then 'interest'
            when awareness_event_count > 0 then 'awareness'
            else 'none'
        end as aipl_stage,
        window_order_count,
        awareness_event_count,
        interest_event_count,
        loyalty_event_count,
        as_of_date
    from member_behavior

),

final as (

    select
        one_id,
        aipl_stage,
        case
            when aipl_stage in ('awareness', 'interest') then 'new'
            when aipl_stage in ('purchase', 'loyalty') then 'old'
        end as aipl_customer_type,
        window_order_count,
        awareness_event_count,
        interest_event_count,
        loyalty_event_count,
        as_of_date
    from staged

)

select * from final
