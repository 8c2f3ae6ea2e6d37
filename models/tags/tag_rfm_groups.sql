{#- RFM (seed 002). Recency = days since the last purchase, Frequency = purchases in the period,
    Monetary = average spend per purchase in the period. Each is split high/low at the configured
    thresholds, giving the eight classic value groups. People who never bought get no group. -#}
with

member_orders as (

    select * from {{ ref('int_member_orders_summarised') }}

),

levels as (

    select
        one_id,
        days_since_last_order as recency_days,
        period_order_count as frequency_orders,
        coalesce(period_average_spend, 0) as monetary_average_spend,
        case
            when days_since_last_order <= {{ var('onedata__rfm_recency_high_max_days') }} then 'high' else 'low'
        end as recency_level,
        case
            when period_order_count >= {{ var('onedata__rfm_frequency_high_min_orders') }} then 'high' else 'low'
        end as frequency_level,
        case
            when coalesce(period_average_spend, 0) >= {{ var('onedata__rfm_monetary_high_min_avg_spend') }}
                then 'high'
            else 'low'
        end as monetary_level,
        as_of_date
    from member_orders
    where paid_order_count > 0

),

final as (

    select
        one_id,
        recency_level,
        frequency_level,
        monetary_level,
        case
            when monetary_level = 'high' and frequency_level = 'high' and recency_level = 'high' then 'important_value'
            when monetary_level = 'high' and frequency_level = 'low' and recency_level = 'high' then 'important_develop'
            when monetary_level = 'high' and frequency_level = 'high' and recency_level = 'low' then 'important_keep'
            when monetary_level = 'high' and frequency_level = 'low' and recency_level = 'low' then 'important_win_back'
            when frequency_level = 'high' and recency_level = 'high' then 'general_value'
            when frequency_level = 'low' and recency_level = 'high' then 'general_develop'
            when frequency_level = 'high' and recency_level = 'low' then 'general_keep'
            else 'general_win_back'
        end as rfm_group,
        recency_days,
        frequency_orders,
        monetary_average_spend,
        -- High value = buys often and spends much, whatever the recency: the members whose lapse matters.
        monetary_level = 'high' and frequency_level = 'high' as is_high_value,
        as_of_date
    from levels

)

select * from final
