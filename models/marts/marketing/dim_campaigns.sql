{#- Campaigns the brand declared, plus any campaign id that `activate sync` used without declaring
    it, so that no send goes unreviewed. -#}
with

campaigns as (

    select * from {{ ref('stg_marketing__campaigns') }}

),

campaign_assignments as (

    select * from {{ ref('stg_activation__campaign_assignments') }}

),

undeclared_campaigns as (

    select
        campaign_assignments.campaign_id,
        min(campaign_assignments.audience_name) as audience_name,
        min(campaign_assignments.destination_name) as destination_name,
        min(campaign_assignments.assigned_at) as started_at
    from campaign_assignments
    left join campaigns
        on campaign_assignments.campaign_id = campaigns.campaign_id
    where campaigns.campaign_id is null
    group by campaign_assignments.campaign_id

),

final as (

    select
        campaign_id,
        campaign_name,
        channel,
        audience_name,
        coalesce(cost_amount, 0) as cost_amount,
        coalesce(attribution_window_days, {{ var('onedata__attribution_window_days') }}) as attribution_window_days,
        true as is_declared,
        started_at,
        ended_at
    from campaigns

    union all

    select
        campaign_id,
        campaign_id as campaign_name,
        cast(null as {{ dbt.type_string() }}) as channel,
        audience_name,
        cast(0 as decimal(18, 2)) as cost_amount,
        {{ var('onedata__attribution_window_days') }} as attribution_window_days,
        false as is_declared,
        started_at,
        cast(null as {{ dbt.type_timestamp() }}) as ended_at
    from undeclared_campaigns

)

select * from final
