{#- The wide member profile: one row per person, every tag as a column, beside the golden record. -#}
with

members as (

    select * from {{ ref('dim_members') }}

),

member_orders as (

    select * from {{ ref('int_member_orders_summarised') }}

),

rfm_groups as (

    select * from {{ ref('tag_rfm_groups') }}

),

lifecycle_stages as (

    select * from {{ ref('tag_lifecycle_stages') }}

),

aipl_stages as (

    select * from {{ ref('tag_aipl_stages') }}

),

churn_warnings as (

    select * from {{ ref('tag_churn_warnings') }}

),

spend_trend_warnings as (

    select * from {{ ref('tag_spend_trend_warnings') }}

),

clv_predictions as (

    {% if target.type == 'duckdb' -%}
        select * from {{ ref('tag_clv_predictions') }}
    {%- else -%}
        {#- The CLV models are Python (clv_model_fits, tag_clv_predictions), which dbt-spark's
            session method cannot run: on Spark the CLV columns are null. -#}
        select
            cast(null as {{ dbt.type_string() }}) as one_id,
            cast(null as {{ dbt.type_float() }}) as p_alive,
            cast(null as {{ dbt.type_float() }}) as expected_purchases_90d,
            cast(null as {{ dbt.type_float() }}) as clv_12m
    {%- endif %}

),

final as (

    select
        members.one_id,
        members.member_level,
        lifecycle_stages.lifecycle_stage,
        rfm_groups.rfm_group,
        rfm_groups.recency_level,
        rfm_groups.frequency_level,
        rfm_groups.monetary_level,
        aipl_stages.aipl_stage,
        aipl_stages.aipl_customer_type,
        member_orders.paid_order_count,
        member_orders.period_order_count,
        member_orders.lifetime_spend,
        member_orders.period_spend,
        member_orders.repurchase_cycle_days,
        member_orders.days_since_last_order,
        member_orders.days_since_first_order,
        members.is_loyalty_member,
        members.is_paid_member,
        member_orders.is_composite_buyer,
        coalesce(rfm_groups.is_high_value, false) as is_high_value,
        churn_warnings.is_high_value_lapse_warning,
        churn_warnings.is_growth_lapse_warning,
        coalesce(spend_trend_warnings.is_falling_spend_warning, false) as is_falling_spend_warning,
        coalesce(spend_trend_warnings.is_spend_drop_warning, false) as is_spend_drop_warning,
        clv_predictions.p_alive,
        clv_predictions.expected_purchases_90d,
        clv_predictions.clv_12m,
        member_orders.first_order_date,
        member_orders.last_order_date,
        member_orders.as_of_date
    from members
    inner join member_orders
        on members.one_id = member_orders.one_id
    inner join lifecycle_stages
        on members.one_id = lifecycle_stages.one_id
    inner join aipl_stages
        on members.one_id = aipl_stages.one_id
    inner join churn_warnings
        on members.one_id = churn_warnings.one_id
    left join rfm_groups
        on members.one_id = rfm_groups.one_id
    left join spend_trend_warnings
        on members.one_id = spend_trend_warnings.one_id
    left join clv_predictions
        on members.one_id = clv_predictions.one_id

)

select * from final
