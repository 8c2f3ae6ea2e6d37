{#- Each campaign's result, one row per campaign and group (treated, holdout): who was reached,
    what the destination reported, and the orders and GMV placed within the attribution window.
    The holdout row is the baseline the treated row is judged against. -#}
with

campaign_member_outcomes as (

    select * from {{ ref('int_campaign_member_outcomes') }}

),

campaigns as (

    select * from {{ ref('dim_campaigns') }}

),

grouped as (

    select
        campaign_id,
        assignment_group,
        count(*) as member_count,
        count(case when is_sent then 1 end) as sent_count,
        count(case when is_delivered then 1 end) as delivered_count,
        count(case when is_clicked then 1 end) as clicked_count,
        count(case when is_reported_converted then 1 end) as reported_conversion_count,
        count(case when is_converted then 1 end) as converted_member_count,
        count(case when is_participant then 1 end) as participant_count,
        cast(sum(order_count) as {{ dbt.type_bigint() }}) as order_count,
        sum(gmv) as gmv,
        sum(send_cost) as send_cost
    from campaign_member_outcomes
    group by campaign_id, assignment_group

),

final as (

    select
        {{ dbt.concat(['grouped.campaign_id', "'|'", 'grouped.assignment_group']) }} as campaign_group_key,
        grouped.campaign_id,
        campaigns.campaign_name,
        grouped.assignment_group,
        grouped.member_count,
        grouped.sent_count,
        grouped.delivered_count,
        grouped.clicked_count,
        grouped.reported_conversion_count,
        grouped.converted_member_count,
        grouped.participant_count,
        grouped.order_count,
        grouped.gmv,
        grouped.gmv / grouped.member_count as gmv_per_member,
        cast(grouped.converted_member_count as double) / grouped.member_count as conversion_rate,
        grouped.send_cost,
        campaigns.attribution_window_days
    from grouped
    left join campaigns
        on grouped.campaign_id = campaigns.campaign_id

)

select * from final
