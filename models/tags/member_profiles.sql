{#- The wide member profile: one row per person, every tag a column. Each column is described,
    with its family, type and allowed values, in _tags__member_profiles.yml: tag_catalogue and
    member_tags are built from that metadata, so a tag added here and there is catalogued and
    unpivoted without further work. -#}
with

members as (

    select * from {{ ref('dim_members') }}

),

member_orders as (

    select * from {{ ref('int_member_orders_summarised') }}

),

membership as (

    select * from {{ ref('tag_membership') }}

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

purchase_activity as (

    select * from {{ ref('tag_purchase_activity') }}

),

preferences as (

    select * from {{ ref('tag_preferences') }}

),

engagement as (

    select * from {{ ref('tag_engagement') }}

),

next_best_categories as (

    select * from {{ ref('tag_next_best_categories') }}

),

clv_predictions as (

    {% if target.type == 'duckdb' -%}
        select * from {{ ref('tag_clv_predictions') }}
    {%- else -%}
        {#- The CLV models are Python (tag_clv_model_fits, tag_clv_predictions), which dbt-spark's
            session method cannot run: on Spark the CLV columns are null. -#}
        select
            cast(null as {{ dbt.type_string() }}) as one_id,
            cast(null as {{ dbt.type_float() }}) as p_alive,
            cast(null as {{ dbt.type_float() }}) as expected_purchases,
            cast(null as {{ dbt.type_float() }}) as expected_average_spend,
            cast(null as {{ dbt.type_float() }}) as clv
    {%- endif %}

),

final as (

    select
        members.one_id,

        -- reachability
        members.phone is not null as has_phone,
        members.email is not null as has_email,
        members.wechat_unionid is not null or members.wechat_openid is not null as has_wechat,
        {% for channel in consent_channels() -%}
            members.is_{{ channel }}_consented,
        {% endfor -%}
        {% for channel in consent_channels() -%}
            case when members.is_{{ channel }}_consented then 1 else 0 end
            {%- if not loop.last %} + {% endif %}
        {%- endfor %} as consented_channel_count,
        members.source_system_count,

        -- membership
        membership.member_level,
        membership.is_loyalty_member,
        membership.is_paid_member,
        membership.is_composite_member,
        membership.points_balance,
        membership.points_band,
        membership.points_earned_365d,
        membership.points_redeemed_365d,
        membership.points_redemption_rate,
        membership.registration_cohort,
        membership.registration_channel,
        membership.member_tenure_days,
        membership.tenure_band,
        membership.days_to_first_order_after_registration,
        membership.is_first_week_buyer,
        membership.birthday_month,
        membership.is_birthday_month,
        membership.age,
        membership.age_band,
        membership.gender,
        membership.province,
        membership.city,

        -- rfm
        rfm_groups.rfm_group,
        rfm_groups.recency_level,
        rfm_groups.frequency_level,
        rfm_groups.monetary_level,
        rfm_groups.recency_score,
        rfm_groups.frequency_score,
        rfm_groups.monetary_score,
        rfm_groups.rfm_score_code,
        coalesce(rfm_groups.is_high_value, false) as is_high_value,
        member_orders.period_order_count,
        member_orders.period_spend,
        member_orders.period_average_spend,

        -- lifecycle
        lifecycle_stages.lifecycle_stage,
        member_orders.paid_order_count,
        member_orders.lifetime_spend,
        member_orders.repurchase_cycle_days,
        member_orders.days_since_last_order,
        member_orders.days_since_first_order,

        -- aipl
        aipl_stages.aipl_stage,
        aipl_stages.aipl_customer_type,
        aipl_stages.awareness_event_count as aipl_awareness_event_count,
        aipl_stages.interest_event_count as aipl_interest_event_count,
        aipl_stages.loyalty_event_count as aipl_loyalty_event_count,

        -- warnings
        churn_warnings.is_high_value_lapse_warning,
        churn_warnings.is_growth_lapse_warning,
        coalesce(spend_trend_warnings.is_falling_spend_warning, false) as is_falling_spend_warning,
        coalesce(spend_trend_warnings.is_spend_drop_warning, false) as is_spend_drop_warning,

        -- purchase
        purchase_activity.order_count_30d,
        purchase_activity.order_count_90d,
        purchase_activity.order_count_365d,
        purchase_activity.spend_30d,
        purchase_activity.spend_90d,
        purchase_activity.spend_365d,
        purchase_activity.average_order_value,
        purchase_activity.max_order_value,
        purchase_activity.refunded_order_count,
        purchase_activity.refund_rate,
        purchase_activity.discount_share,
        purchase_activity.online_order_count,
        purchase_activity.offline_order_count,
        purchase_activity.distinct_channel_count,
        purchase_activity.active_month_count_365d,
        purchase_activity.first_order_channel,
        purchase_activity.last_order_channel,
        purchase_activity.distinct_category_count,
        purchase_activity.distinct_product_count,
        purchase_activity.units_bought,

        -- preference
        preferences.preferred_category,
        preferences.second_preferred_category,
        preferences.preferred_top_category,
        preferences.preferred_brand,
        preferences.preferred_channel,
        preferences.preferred_store,
        preferences.preferred_time_of_day,
        preferences.preferred_day_of_week,
        preferences.weekend_order_share,
        preferences.is_weekend_shopper,
        preferences.coupons_claimed_count,
        preferences.coupons_redeemed_count,
        preferences.coupon_redemption_rate,
        preferences.coupon_sensitivity,
        preferences.coupon_order_share,
        preferences.member_day_order_share,
        preferences.is_member_day_sensitive,
        preferences.average_unit_price_paid,
        preferences.price_band,

        -- engagement
        engagement.event_count_30d,
        engagement.page_view_count_30d,
        engagement.product_view_count_30d,
        engagement.add_to_cart_count_30d,
        engagement.favourite_count_30d,
        engagement.ad_click_count_30d,
        engagement.search_count_30d,
        engagement.share_count_365d,
        engagement.review_count_365d,
        engagement.days_since_last_event,
        engagement.is_active_30d,
        engagement.has_abandoned_cart,
        engagement.engagement_level,
        engagement.most_viewed_category_90d,

        -- recommendation
        next_best_categories.next_best_category_1,
        next_best_categories.next_best_category_2,
        next_best_categories.next_best_category_3,
        next_best_categories.next_best_category_1_lift,

        -- clv
        clv_predictions.p_alive,
        clv_predictions.expected_purchases,
        clv_predictions.expected_average_spend,
        clv_predictions.clv,

        member_orders.first_order_date,
        member_orders.last_order_date,
        member_orders.as_of_date
    from members
    inner join member_orders
        on members.one_id = member_orders.one_id
    inner join membership
        on members.one_id = membership.one_id
    inner join lifecycle_stages
        on members.one_id = lifecycle_stages.one_id
    inner join aipl_stages
        on members.one_id = aipl_stages.one_id
    inner join churn_warnings
        on members.one_id = churn_warnings.one_id
    inner join purchase_activity
        on members.one_id = purchase_activity.one_id
    inner join preferences
        on members.one_id = preferences.one_id
    inner join engagement
        on members.one_id = engagement.one_id
    inner join next_best_categories
        on members.one_id = next_best_categories.one_id
    left join rfm_groups
        on members.one_id = rfm_groups.one_id
    left join spend_trend_warnings
        on members.one_id = spend_trend_warnings.one_id
    left join clv_predictions
        on members.one_id = clv_predictions.one_id

)

select * from final
