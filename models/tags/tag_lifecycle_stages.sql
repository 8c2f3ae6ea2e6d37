{#- Lifecycle (seeds 000, 003): prospect, new, growth, mature, dormant, churned. A member's own
    repurchase cycle (median days between orders) moves the dormant and churned boundaries, with
    floors so that a fast buyer is not called dormant after a short pause. -#}
with

member_orders as (

    select * from {{ ref('int_member_orders_summarised') }}

),

boundaries as (

    select
        *,
        coalesce(repurchase_cycle_days, {{ var('onedata__lifecycle_default_cycle_days') }}) as cycle_days
    from member_orders

),

staged as (

    select
        one_id,
        case
            when paid_order_count = 0 then 'prospect'
            when
                days_since_last_order > greatest(
                    {{ var('onedata__lifecycle_churned_min_days') }},
                    {{ var('onedata__lifecycle_churned_cycle_multiple') }} * cycle_days
                )
                then 'churned'
            when
                days_since_last_order > greatest(
                    {{ var('onedata__lifecycle_dormant_min_days') }},
                    {{ var('onedata__lifecycle_dormant_cycle_multiple') }} * cycle_days
                )
                then 'dormant'
            when days_since_first_order <= {{ var('onedata__lifecycle_new_max_days') }} then 'new'
            when repurchase_cycle_days <= {{ var('onedata__lifecycle_growth_max_cycle_days') }} then 'growth'
            else 'mature'
        end as lifecycle_stage,
        repurchase_cycle_days,
        paid_order_count,
        days_since_last_order,
        days_since_first_order,
        as_of_date
    from boundaries

)

select * from staged
