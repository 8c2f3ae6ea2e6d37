{#- Each campaign's effect, one row per campaign and A/B variant: the variant's treated members
    against the campaign's holdout (shared by every variant). The uplift is the difference in GMV
    per assigned member (ARPU, zero-buyers included) times the variant's members, with a normal
    (Welch) confidence interval; the same for the conversion rate; the cost and the ROI.

    Statistics are computed in double precision and rounded at the end (money to cents, rates to
    6 places, ROI to 4): var_samp is not computed bit for bit alike on DuckDB and Spark, and the
    rounded figures are what a reader compares. -#}
{%- set z = var('onedata__uplift_interval_z', 1.96) %}

with

campaign_member_outcomes as (

    select * from {{ ref('int_campaign_member_outcomes') }}

),

campaigns as (

    select * from {{ ref('dim_campaigns') }}

),

member_measures as (

    select
        campaign_id,
        assignment_group,
        variant,
        holdout_scope,
        gmv,
        send_cost,
        cast(gmv as double) as member_gmv,
        cast(case when is_converted then 1 else 0 end as double) as member_conversion,
        is_sent,
        is_delivered,
        is_clicked,
        is_converted,
        is_participant
    from campaign_member_outcomes

),

treated_variants_summarised as (

    select
        campaign_id,
        variant,
        count(*) as member_count,
        count(case when is_sent then 1 end) as sent_count,
        count(case when is_delivered then 1 end) as delivered_count,
        count(case when is_clicked then 1 end) as clicked_count,
        count(case when is_converted then 1 end) as converted_member_count,
        count(case when is_participant then 1 end) as participant_count,
        sum(gmv) as gmv,
        sum(send_cost) as send_cost,
        avg(member_gmv) as arpu,
        var_samp(member_gmv) as gmv_variance,
        avg(member_conversion) as conversion_rate,
        var_samp(member_conversion) as conversion_variance
    from member_measures
    where assignment_group = 'treated'
    group by campaign_id, variant

),

holdouts_summarised as (

    select
        campaign_id,
        count(*) as member_count,
        count(case when holdout_scope = 'global' then 1 end) as global_member_count,
        count(case when is_converted then 1 end) as converted_member_count,
        count(case when is_participant then 1 end) as participant_count,
        sum(gmv) as gmv,
        avg(member_gmv) as arpu,
        var_samp(member_gmv) as gmv_variance,
        avg(member_conversion) as conversion_rate,
        var_samp(member_conversion) as conversion_variance
    from member_measures
    where assignment_group = 'holdout'
    group by campaign_id

),

-- The campaign's budget is shared by its variants in proportion to their treated members.
campaign_treated_counted as (

    select
        campaign_id,
        sum(member_count) as member_count
    from treated_variants_summarised
    group by campaign_id

),

variants_compared as (

    select
        treated.campaign_id,
        campaigns.campaign_name,
        treated.variant,
        campaigns.attribution_window_days,
        treated.member_count as treated_member_count,
        treated.sent_count as treated_sent_count,
        treated.delivered_count as treated_delivered_count,
        treated.clicked_count as treated_clicked_count,
        treated.converted_member_count as treated_converted_member_count,
        treated.participant_count as treated_participant_count,
        coalesce(holdouts.member_count, 0) as holdout_member_count,
        coalesce(holdouts.global_member_count, 0) as holdout_global_member_count,
        coalesce(holdouts.converted_member_count, 0) as holdout_converted_member_count,
        coalesce(holdouts.participant_count, 0) as holdout_participant_count,
        treated.conversion_rate as treated_conversion_rate,
        holdouts.conversion_rate as holdout_conversion_rate,
        treated.gmv as treated_gmv,
        coalesce(holdouts.gmv, 0) as holdout_gmv,
        treated.arpu as treated_arpu,
        holdouts.arpu as holdout_arpu,
        treated.send_cost,
        cast(coalesce(campaigns.cost_amount, 0) as double)
        * treated.member_count / campaign_treated.member_count as budget_cost,
        -- Welch's standard errors of the differences; a group of one has no sample variance.
        case
            when treated.member_count >= 2 and holdouts.member_count >= 2
                then sqrt(
                        treated.gmv_variance / treated.member_count
                        + holdouts.gmv_variance / holdouts.member_count
                    )
        end as arpu_uplift_standard_error,
        case
            when treated.member_count >= 2 and holdouts.member_count >= 2
                then sqrt(
                        treated.conversion_variance / treated.member_count
                        + holdouts.conversion_variance / holdouts.member_count
                    )
        end as conversion_rate_uplift_standard_error
    from treated_variants_summarised as treated
    inner join campaign_treated_counted as campaign_treated
        on treated.campaign_id = campaign_treated.campaign_id
    left join holdouts_summarised as holdouts
        on treated.campaign_id = holdouts.campaign_id
    left join campaigns
        on treated.campaign_id = campaigns.campaign_id

),

uplift_estimated as (

    select
        *,
        treated_arpu - holdout_arpu as arpu_uplift,
        (treated_arpu - holdout_arpu) * treated_member_count as incremental_gmv,
        (treated_arpu - holdout_arpu - {{ z }} * arpu_uplift_standard_error)
        * treated_member_count as incremental_gmv_lower,
        (treated_arpu - holdout_arpu + {{ z }} * arpu_uplift_standard_error)
        * treated_member_count as incremental_gmv_upper,
        treated_conversion_rate - holdout_conversion_rate as conversion_rate_uplift,
        -- A difference of two rates lies in [-1, 1]; the normal approximation can overshoot it.
        -- (greatest and least skip nulls on both engines, hence the case.)
        case
            when conversion_rate_uplift_standard_error is not null
                then greatest(
                        treated_conversion_rate - holdout_conversion_rate
                        - {{ z }} * conversion_rate_uplift_standard_error,
                        -1
                    )
        end as conversion_rate_uplift_lower,
        case
            when conversion_rate_uplift_standard_error is not null
                then least(
                        treated_conversion_rate - holdout_conversion_rate
                        + {{ z }} * conversion_rate_uplift_standard_error,
                        1
                    )
        end as conversion_rate_uplift_upper,
        cast(send_cost as double) + budget_cost as total_cost
    from variants_compared

),

final as (

    select
        {{ dbt.concat(['campaign_id', "'|'", 'variant']) }} as campaign_variant_key,
        campaign_id,
        campaign_name,
        variant,
        attribution_window_days,
        treated_member_count,
        treated_sent_count,
        treated_delivered_count,
        treated_clicked_count,
        treated_converted_member_count,
        treated_participant_count,
        holdout_member_count,
        holdout_global_member_count,
        holdout_converted_member_count,
        holdout_participant_count,
        cast(treated_delivered_count as double) / nullif(treated_sent_count, 0) as delivery_rate,
        cast(treated_clicked_count as double) / nullif(treated_sent_count, 0) as click_rate,
        treated_conversion_rate,
        holdout_conversion_rate,
        round(conversion_rate_uplift, 6) as conversion_rate_uplift,
        round(conversion_rate_uplift_lower, 6) as conversion_rate_uplift_lower,
        round(conversion_rate_uplift_upper, 6) as conversion_rate_uplift_upper,
        cast(treated_gmv as decimal(18, 2)) as treated_gmv,
        cast(holdout_gmv as decimal(18, 2)) as holdout_gmv,
        cast(round(treated_arpu, 2) as decimal(18, 2)) as treated_arpu,
        cast(round(holdout_arpu, 2) as decimal(18, 2)) as holdout_arpu,
        cast(round(arpu_uplift, 2) as decimal(18, 2)) as arpu_uplift,
        cast(round(incremental_gmv, 2) as decimal(18, 2)) as incremental_gmv,
        cast(round(incremental_gmv_lower, 2) as decimal(18, 2)) as incremental_gmv_lower,
        cast(round(incremental_gmv_upper, 2) as decimal(18, 2)) as incremental_gmv_upper,
        cast(round(send_cost, 2) as decimal(18, 2)) as send_cost_amount,
        cast(round(budget_cost, 2) as decimal(18, 2)) as budget_cost_amount,
        cast(round(total_cost, 2) as decimal(18, 2)) as cost_amount,
        -- Incremental GMV per unit of cost; no cost, no ratio.
        round(incremental_gmv / nullif(total_cost, 0), 4) as roi,
        round(incremental_gmv_lower / nullif(total_cost, 0), 4) as roi_lower,
        round(incremental_gmv_upper / nullif(total_cost, 0), 4) as roi_upper,
        coalesce(incremental_gmv_lower > 0 or incremental_gmv_upper < 0, false) as is_gmv_uplift_significant,
        coalesce(
            conversion_rate_uplift_lower > 0 or conversion_rate_uplift_upper < 0, false
        ) as is_conversion_uplift_significant
    from uplift_estimated

)

select * from final
