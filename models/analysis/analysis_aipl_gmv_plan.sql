{#- AIPL GMV planning (seed 002): GMV = people x conversion x unit price, per AIPL stage.
    History: of the people in each stage on the previous as-of date of member_state_history, the
    share who paid for an order by the latest as-of date (conversion) and what each of them spent
    (unit price). Plan: the target (var onedata__gmv_target, or when null the last period's GMV
    grown by onedata__gmv_growth) is split over the stages in proportion to what today's crowds
    would bring at those rates; each stage's reach is the people it needs to bring its share, set
    against the people it has now. A and I are new customers, P and L old ones. Needs two as-of
    dates in the history (replay one: see the README); until then it is empty. -#}
with

member_state_history as (

    select * from {{ ref('member_state_history') }}

),

orders as (

    select * from {{ ref('fct_orders') }}

),

-- The two latest as-of dates, ranked (not a self-join on the maximum: local Spark fails on that).
ranked_dates as (

    select
        as_of_date,
        row_number() over (order by as_of_date desc) as date_rank
    from (select distinct as_of_date from member_state_history) as history_dates

),

dates as (

    select
        max(case when date_rank = 1 then as_of_date end) as plan_date,
        max(case when date_rank = 2 then as_of_date end) as base_date
    from ranked_dates

),

base_members as (

    select
        member_state_history.one_id,
        member_state_history.aipl_stage
    from member_state_history
    inner join dates
        on member_state_history.as_of_date = dates.base_date

),

period_spend as (

    select
        orders.one_id,
        sum(orders.net_amount) as spend
    from orders
    inner join dates
        on orders.order_date > dates.base_date and orders.order_date <= dates.plan_date
    where orders.is_paid and orders.one_id is not null
    group by orders.one_id

),

stage_rates as (

    select
        base_members.aipl_stage,
        count(*) as base_people,
        count(period_spend.one_id) as converted_people,
        cast(count(period_spend.one_id) as double) / count(*) as conversion_rate,
        sum(period_spend.spend) / nullif(count(period_spend.one_id), 0) as unit_price,
        coalesce(sum(period_spend.spend), 0) as period_gmv
    from base_members
    left join period_spend
        on base_members.one_id = period_spend.one_id
    group by base_members.aipl_stage

),

current_people as (

    select
        member_state_history.aipl_stage,
        count(*) as people
    from member_state_history
    inner join dates
        on member_state_history.as_of_date = dates.plan_date
    group by member_state_history.aipl_stage

),

expected as (

    select
        current_people.aipl_stage,
        current_people.people,
        stage_rates.conversion_rate,
        stage_rates.unit_price,
        stage_rates.period_gmv,
        current_people.people * coalesce(stage_rates.conversion_rate * stage_rates.unit_price, 0) as expected_gmv
    from current_people
    inner join stage_rates
        on current_people.aipl_stage = stage_rates.aipl_stage
    where current_people.aipl_stage <> 'none'

),

target as (

    select
        {% if var('onedata__gmv_target') is none -%}
            sum(period_gmv) * (1 + {{ var('onedata__gmv_growth') }})
        {%- else -%}
            cast({{ var('onedata__gmv_target') }} as double)
        {%- endif %} as gmv_target,
        sum(expected_gmv) as expected_gmv_total
    from expected

),

final as (

    select
        expected.aipl_stage,
        case when expected.aipl_stage in ('awareness', 'interest') then 'new' else 'old' end as customer_type,
        dates.base_date,
        dates.plan_date,
        expected.people as current_people,
        expected.conversion_rate,
        expected.unit_price,
        expected.expected_gmv,
        target.gmv_target,
        target.gmv_target * expected.expected_gmv / nullif(target.expected_gmv_total, 0) as gmv_share_of_target,
        -- People the stage must reach to bring its share at its conversion and unit price.
        target.gmv_target * expected.expected_gmv / nullif(target.expected_gmv_total, 0)
        / nullif(expected.conversion_rate * expected.unit_price, 0) as people_needed,
        target.gmv_target * expected.expected_gmv / nullif(target.expected_gmv_total, 0)
        / nullif(expected.conversion_rate * expected.unit_price, 0) - expected.people as people_gap
    from expected
    cross join target
    cross join dates

)

select * from final
