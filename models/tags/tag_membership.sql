{#- Membership facts as tags: level, paid and composite membership, points, registration cohort
    and channel, tenure, the first week after registration, birthday month, age and region.
    One row per person, as of the as-of date. -#}
with

members as (

    select * from {{ ref('dim_members') }}

),

member_orders as (

    select * from {{ ref('int_member_orders_summarised') }}

),

paid_orders as (

    select * from {{ ref('int_orders_paid_as_of') }}

),

points_transactions as (

    select * from {{ ref('fct_points_transactions') }}

),

-- The first paid order on or after registration: did the member convert in the first week?
first_orders_after_registration as (

    select
        paid_orders.one_id,
        min(paid_orders.order_date) as first_order_date
    from paid_orders
    inner join members
        on paid_orders.one_id = members.one_id
    where paid_orders.order_date >= members.registered_date
    group by paid_orders.one_id

),

points_totals as (

    select
        points_transactions.one_id,
        sum(case when points_transactions.points > 0 then points_transactions.points else 0 end) as points_earned,
        -sum(case when points_transactions.transaction_type = 'redeem' then points_transactions.points else 0 end)
            as points_redeemed,
        sum(
            case
                when points_transactions.points > 0
                    and points_transactions.occurred_date
                    > {{ dbt.dateadd('day', -365, 'member_orders.as_of_date') }}
                    then points_transactions.points
                else 0
            end
        ) as points_earned_365d,
        -sum(
            case
                when points_transactions.transaction_type = 'redeem'
                    and points_transactions.occurred_date
                    > {{ dbt.dateadd('day', -365, 'member_orders.as_of_date') }}
                    then points_transactions.points
                else 0
            end
        ) as points_redeemed_365d
    from points_transactions
    inner join member_orders
        on points_transactions.one_id = member_orders.one_id
    where points_transactions.occurred_date <= member_orders.as_of_date
    group by points_transactions.one_id

),

dated as (

    select
        members.*,
        member_orders.is_composite_buyer,
        member_orders.as_of_date,
        points_totals.points_earned,
        points_totals.points_redeemed,
        points_totals.points_earned_365d,
        points_totals.points_redeemed_365d,
        members.registered_date,
        first_orders_after_registration.first_order_date,
        extract(month from member_orders.as_of_date) * 100 + extract(day from member_orders.as_of_date)
            as as_of_month_day,
        extract(month from members.birth_date) * 100 + extract(day from members.birth_date) as birth_month_day
    from members
    inner join member_orders
        on members.one_id = member_orders.one_id
    left join first_orders_after_registration
        on members.one_id = first_orders_after_registration.one_id
    left join points_totals
        on members.one_id = points_totals.one_id

),

measured as (

    select
        *,
        {{ dbt.datediff('registered_date', 'as_of_date', 'day') }}
            as member_tenure_days,
        {{ dbt.datediff('registered_date', 'first_order_date', 'day') }}
            as days_to_first_order_after_registration,
        -- Whole years lived on the as-of date.
        extract(year from as_of_date) - extract(year from birth_date)
        - case when as_of_month_day < birth_month_day then 1 else 0 end as age
    from dated

),

final as (

    select
        one_id,
        member_level,
        is_loyalty_member,
        coalesce(is_paid_member, false) as is_paid_member,
        is_composite_buyer as is_composite_member,
        points_balance,
        case
            when points_balance is null then null
            when points_balance = 0 then 'none'
            when points_balance < {{ var('onedata__points_medium_min') }} then 'low'
            when points_balance < {{ var('onedata__points_high_min') }} then 'medium'
            else 'high'
        end as points_band,
        coalesce(points_earned_365d, 0) as points_earned_365d,
        coalesce(points_redeemed_365d, 0) as points_redeemed_365d,
        cast(points_redeemed as double) / nullif(points_earned, 0) as points_redemption_rate,
        {{ dbt.concat([
            "cast(extract(year from registered_date) as " ~ dbt.type_string() ~ ")",
            "'-'",
            "lpad(cast(extract(month from registered_date) as " ~ dbt.type_string() ~ "), 2, '0')",
        ]) }} as registration_cohort,
        registration_channel,
        member_tenure_days,
        case
            when member_tenure_days is null then null
            when member_tenure_days < 90 then 'under_3_months'
            when member_tenure_days < 365 then '3_to_12_months'
            when member_tenure_days < 1095 then '1_to_3_years'
            else 'over_3_years'
        end as tenure_band,
        days_to_first_order_after_registration,
        coalesce(days_to_first_order_after_registration < 7, false) as is_first_week_buyer,
        extract(month from birth_date) as birthday_month,
        coalesce(extract(month from birth_date) = extract(month from as_of_date), false) as is_birthday_month,
        age,
        case
            when age is null then null
            when age < 25 then 'under_25'
            when age < 35 then '25_to_34'
            when age < 45 then '35_to_44'
            when age < 55 then '45_to_54'
            else '55_and_over'
        end as age_band,
        gender,
        province,
        city,
        as_of_date
    from measured

)

select * from final
