{#- Magic numbers (seed 003): for a behaviour in one month, the next-month retention of members at
    each value of it, and the value after which retention jumps. Behaviours, per member and
    calendar month of paid orders:
    - orders_in_month: paid orders that month;
    - categories_in_month: categories bought that month;
    - channels_in_month: channels bought on that month;
    - orders_in_first_30_days: paid orders in the 30 days after registration (by registration month).
    Retained = a paid order in the next calendar month (for the first-30-days behaviour: in the
    30 days after them). Values above onedata__magic_number_max_value are pooled into it. The knee
    is the value whose retention rises most over the value below it, among values with at least
    onedata__magic_number_min_members members: the threshold is found, never assumed. Months
    without a following month in the data are left out. -#}
{%- set max_value = var('onedata__magic_number_max_value') -%}
{%- set min_members = var('onedata__magic_number_min_members') -%}
with

orders as (

    select * from {{ ref('fct_orders') }}

),

order_lines as (

    select * from {{ ref('fct_order_lines') }}

),

members as (

    select * from {{ ref('dim_members') }}

),

paid_orders as (

    select
        one_id,
        order_id,
        channel,
        order_date,
        {{ dbt.date_trunc('month', 'order_date') }} as order_month
    from orders
    where is_paid and one_id is not null

),

last_month as (

    select max(order_month) as order_month from paid_orders

),

monthly as (

    select
        paid_orders.one_id,
        paid_orders.order_month,
        count(distinct paid_orders.order_id) as orders_in_month,
        count(distinct order_lines.category_id) as categories_in_month,
        count(distinct paid_orders.channel) as channels_in_month
    from paid_orders
    left join order_lines
        on paid_orders.order_id = order_lines.order_id
    group by paid_orders.one_id, paid_orders.order_month

),

monthly_retention as (

    select
        monthly.*,
        next_month.one_id is not null as is_retained
    from monthly
    cross join last_month
    left join monthly as next_month
        on
            monthly.one_id = next_month.one_id
            and next_month.order_month = {{ dbt.dateadd('month', 1, 'monthly.order_month') }}
    where monthly.order_month < last_month.order_month

),

first_30_days as (

    select
        members.one_id,
        sum(
            case
                when paid_orders.order_date >= members.registered_date
                    and paid_orders.order_date < {{ dbt.dateadd('day', 30, 'members.registered_date') }}
                    then 1
                else 0
            end
        ) as orders_in_first_30_days,
        max(
            case
                when paid_orders.order_date >= {{ dbt.dateadd('day', 30, 'members.registered_date') }}
                    and paid_orders.order_date < {{ dbt.dateadd('day', 60, 'members.registered_date') }}
                    then 1
                else 0
            end
        ) = 1 as is_retained
    from members
    cross join last_month
    left join paid_orders
        on members.one_id = paid_orders.one_id
    where
        members.registered_at is not null
        and {{ dbt.dateadd('day', 60, 'members.registered_date') }} <= last_month.order_month
    group by members.one_id

),

observations as (

    {% for behaviour in ['orders_in_month', 'categories_in_month', 'channels_in_month'] %}
        select
            '{{ behaviour }}' as behaviour,
            least({{ behaviour }}, {{ max_value }}) as behaviour_value,
            is_retained
        from monthly_retention
        union all
    {% endfor %}
    select
        'orders_in_first_30_days' as behaviour,
        least(orders_in_first_30_days, {{ max_value }}) as behaviour_value,
        is_retained
    from first_30_days

),

curve as (

    select
        behaviour,
        behaviour_value,
        count(*) as member_count,
        sum(case when is_retained then 1 else 0 end) as retained_count,
        avg(case when is_retained then 1.0 else 0.0 end) as retention_rate
    from observations
    group by behaviour, behaviour_value

),

jumps as (

    select
        behaviour,
        behaviour_value,
        member_count,
        retained_count,
        retention_rate,
        retention_rate - lag(retention_rate) over (
            partition by behaviour order by behaviour_value
        ) as retention_jump,
        lag(member_count) over (partition by behaviour order by behaviour_value) as previous_member_count
    from curve
    where member_count >= {{ min_members }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by behaviour order by retention_jump desc, behaviour_value asc
        ) as jump_rank
    from jumps
    where retention_jump is not null and previous_member_count >= {{ min_members }}

),

final as (

    select
        {{ dbt.concat(['curve.behaviour', "'|'", 'cast(curve.behaviour_value as ' ~ dbt.type_string() ~ ')']) }}
            as curve_key,
        curve.behaviour,
        curve.behaviour_value,
        curve.behaviour_value = {{ max_value }} as is_pooled_top_value,
        curve.member_count,
        curve.retained_count,
        curve.retention_rate,
        jumps.retention_jump,
        coalesce(ranked.jump_rank = 1, false) as is_knee
    from curve
    left join jumps
        on curve.behaviour = jumps.behaviour and curve.behaviour_value = jumps.behaviour_value
    left join ranked
        on curve.behaviour = ranked.behaviour and curve.behaviour_value = ranked.behaviour_value

)

select * from final
