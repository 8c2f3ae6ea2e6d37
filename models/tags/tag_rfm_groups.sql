{#- RFM (seed 002). Recency = days since the last purchase, Frequency = purchases in the period,
    Monetary = average spend per purchase in the period. Each is split high/low, giving the eight
    classic value groups; people who never bought get no group. Where the split falls is
    var onedata__rfm_split:
    - 'fixed': the thresholds onedata__rfm_recency_high_max_days, _frequency_high_min_orders and
      _monetary_high_min_avg_spend;
    - 'median': each measure's median over the buyers;
    - 'quantile': the onedata__rfm_split_quantile quantile (0.8: the top 20% of buyers are high on
      frequency and monetary, the most recent 20% on recency).
    R, F and M scores 1-5 are the buyers' quintiles (5 = most recent, most frequent, biggest). -#}
{%- set split = var('onedata__rfm_split') -%}
{%- if split not in ['fixed', 'median', 'quantile'] -%}
    {{ exceptions.raise_compiler_error("var onedata__rfm_split must be 'fixed', 'median' or 'quantile', not '" ~ split ~ "'") }}
{%- endif -%}
{%- set q = 0.5 if split == 'median' else var('onedata__rfm_split_quantile') -%}
with

member_orders as (

    select * from {{ ref('int_member_orders_summarised') }}

),

buyers as (

    select
        one_id,
        days_since_last_order as recency_days,
        period_order_count as frequency_orders,
        coalesce(period_average_spend, 0) as monetary_average_spend,
        as_of_date
    from member_orders
    where paid_order_count > 0

),

split_points as (

    select
        {% if split == 'fixed' -%}
            {{ var('onedata__rfm_recency_high_max_days') }} as recency_high_max_days,
            {{ var('onedata__rfm_frequency_high_min_orders') }} as frequency_high_min_orders,
            {{ var('onedata__rfm_monetary_high_min_avg_spend') }} as monetary_high_min_avg_spend
        {%- else -%}
            {{ quantile('recency_days', 1 - q) }} as recency_high_max_days,
            {{ quantile('frequency_orders', q) }} as frequency_high_min_orders,
            {{ quantile('monetary_average_spend', q) }} as monetary_high_min_avg_spend
        from buyers
        {%- endif %}

),

levels as (

    select
        buyers.one_id,
        buyers.recency_days,
        buyers.frequency_orders,
        buyers.monetary_average_spend,
        case
            when buyers.recency_days <= split_points.recency_high_max_days then 'high' else 'low'
        end as recency_level,
        case
            when buyers.frequency_orders >= split_points.frequency_high_min_orders then 'high' else 'low'
        end as frequency_level,
        case
            when buyers.monetary_average_spend >= split_points.monetary_high_min_avg_spend then 'high' else 'low'
        end as monetary_level,
        -- Ties share a score: the quintile of the share of buyers ranked below.
        least(5, 1 + cast(floor(5 * percent_rank() over (order by buyers.recency_days desc)) as {{ dbt.type_int() }}))
            as recency_score,
        least(5, 1 + cast(floor(5 * percent_rank() over (order by buyers.frequency_orders)) as {{ dbt.type_int() }}))
            as frequency_score,
        least(
            5, 1 + cast(floor(5 * percent_rank() over (order by buyers.monetary_average_spend)) as {{ dbt.type_int() }})
        )
            as monetary_score,
        buyers.as_of_date
    from buyers
    cross join split_points

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
        recency_score,
        frequency_score,
        monetary_score,
        {{ dbt.concat([
            'cast(recency_score as ' ~ dbt.type_string() ~ ')',
            'cast(frequency_score as ' ~ dbt.type_string() ~ ')',
            'cast(monetary_score as ' ~ dbt.type_string() ~ ')',
        ]) }} as rfm_score_code,
        -- High value = buys often and spends much, whatever the recency: the members whose lapse matters.
        monetary_level = 'high' and frequency_level = 'high' as is_high_value,
        as_of_date
    from levels

)

select * from final
