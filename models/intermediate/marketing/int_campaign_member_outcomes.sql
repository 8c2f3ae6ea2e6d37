{#- One row per campaign and assigned person, treated (with their A/B variant) or holdout (with
    its scope), with what was sent and what it cost, what the destination reported, and the orders
    the person placed inside the attribution window. Orders are counted the same way for both
    groups, so that the groups can be compared. -#}
with

campaign_assignments as (

    select * from {{ ref('stg_activation__campaign_assignments') }}

),

campaigns as (

    select * from {{ ref('dim_campaigns') }}

),

campaign_sends as (

    select * from {{ ref('fct_campaign_sends') }}

),

campaign_feedback as (

    select * from {{ ref('fct_campaign_feedback') }}

),

orders as (

    select * from {{ ref('fct_orders') }}

),

sends_per_member as (

    select
        campaign_id,
        one_id,
        count(case when operation in ('add', 'update') then 1 end) as sent_count,
        -- Every acknowledged record is paid for, a remove included; refused records are not.
        sum(unit_cost) as send_cost
    from campaign_sends
    where is_sent
    group by campaign_id, one_id

),

feedback_per_member as (

    select
        campaign_id,
        one_id,
        max(case when event_type = 'delivered' then 1 else 0 end) as is_delivered,
        max(case when event_type = 'clicked' then 1 else 0 end) as is_clicked,
        max(case when event_type = 'converted' then 1 else 0 end) as is_reported_converted
    from campaign_feedback
    group by campaign_id, one_id

),

window_orders as (

    select
        campaign_assignments.campaign_id,
        campaign_assignments.one_id,
        count(orders.order_id) as order_count,
        coalesce(sum(orders.net_amount), 0) as gmv
    from campaign_assignments
    inner join campaigns
        on campaign_assignments.campaign_id = campaigns.campaign_id
    inner join orders
        on
            campaign_assignments.one_id = orders.one_id
            and orders.is_paid
            and campaign_assignments.assigned_at <= orders.ordered_at
            and orders.ordered_at
            < {{ dbt.dateadd('day', 'campaigns.attribution_window_days', 'campaign_assignments.assigned_at') }}
    group by campaign_assignments.campaign_id, campaign_assignments.one_id

),

final as (

    select
        campaign_assignments.campaign_id,
        campaign_assignments.one_id,
        campaign_assignments.assignment_group,
        campaign_assignments.variant,
        campaign_assignments.holdout_scope,
        coalesce(window_orders.order_count, 0) as order_count,
        coalesce(window_orders.gmv, 0) as gmv,
        coalesce(sends_per_member.send_cost, 0) as send_cost,
        coalesce(sends_per_member.sent_count, 0) > 0 as is_sent,
        coalesce(feedback_per_member.is_delivered, 0) = 1 as is_delivered,
        coalesce(feedback_per_member.is_clicked, 0) = 1 as is_clicked,
        coalesce(feedback_per_member.is_reported_converted, 0) = 1 as is_reported_converted,
        coalesce(window_orders.order_count, 0) > 0 as is_converted,
        -- A participant took part: clicked, or converted by the destination's report or by an
        -- order in the window (a holdout member can only do the last).
        (
            coalesce(feedback_per_member.is_clicked, 0) = 1
            or coalesce(feedback_per_member.is_reported_converted, 0) = 1
            or coalesce(window_orders.order_count, 0) > 0
        ) as is_participant,
        campaign_assignments.assigned_at
    from campaign_assignments
    left join sends_per_member
        on
            campaign_assignments.campaign_id = sends_per_member.campaign_id
            and campaign_assignments.one_id = sends_per_member.one_id
    left join feedback_per_member
        on
            campaign_assignments.campaign_id = feedback_per_member.campaign_id
            and campaign_assignments.one_id = feedback_per_member.one_id
    left join window_orders
        on
            campaign_assignments.campaign_id = window_orders.campaign_id
            and campaign_assignments.one_id = window_orders.one_id

)

select * from final
