{#- The inputs of the BG/NBD and Gamma-Gamma CLV models, one row per person who bought, as of the
    as-of date. A purchase is a day with at least one paid order (same-day orders are one purchase,
    as in Fader, Hardie and Lee 2005); frequency counts the purchases after the first, recency is
    first to last purchase and tenure first purchase to the as-of date, both in periods of
    `onedata__clv_period_days` days (7: weeks, the paper's unit). Monetary value is the mean net
    spend of the repeat purchases (the first one is left out, as the Gamma-Gamma model expects). -#}
with

paid_orders as (

    select * from {{ ref('int_orders_paid_as_of') }}

),

as_of as (

    select * from {{ ref('int_as_of_date') }}

),

purchases as (

    select
        one_id,
        order_date as purchase_date,
        sum(net_amount) as purchase_amount
    from paid_orders
    group by one_id, order_date

),

numbered as (

    select
        one_id,
        purchase_date,
        purchase_amount,
        row_number() over (partition by one_id order by purchase_date) as purchase_number
    from purchases

),

summarised as (

    select
        one_id,
        count(*) - 1 as repeat_purchase_count,
        sum(case when purchase_number > 1 then purchase_amount end) as repeat_purchase_spend,
        min(purchase_date) as first_purchase_date,
        max(purchase_date) as last_purchase_date
    from numbered
    group by one_id

),

final as (

    select
        summarised.one_id,
        summarised.repeat_purchase_count,
        cast(
            {{ dbt.datediff('summarised.first_purchase_date', 'summarised.last_purchase_date', 'day') }}
            as {{ dbt.type_float() }}
        ) / {{ var('onedata__clv_period_days') }} as recency_periods,
        cast(
            {{ dbt.datediff('summarised.first_purchase_date', 'as_of.as_of_date', 'day') }}
            as {{ dbt.type_float() }}
        ) / {{ var('onedata__clv_period_days') }} as tenure_periods,
        case
            when summarised.repeat_purchase_count > 0
                then summarised.repeat_purchase_spend / summarised.repeat_purchase_count
        end as repeat_purchase_average_spend,
        {{ var('onedata__clv_period_days') }} as period_days,
        summarised.first_purchase_date,
        summarised.last_purchase_date,
        as_of.as_of_date
    from summarised
    cross join as_of

)

select * from final
