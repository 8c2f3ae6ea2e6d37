{#- Transitions (躍遷, domain brief): how members move between RFM value groups and between
    lifecycle stages from one tagged as-of date to the next in member_state_history, with the
    share of each move that raised frequency (more orders in the period) or raised amount (a
    higher average spend). People tagged on only one of the two dates come from or go to
    '(absent)'; people without a group (never bought) are '(none)'. -#}
{%- set dimensions = ['rfm_group', 'lifecycle_stage'] -%}
with

member_state_history as (

    select * from {{ ref('member_state_history') }}

),

as_of_dates as (

    select distinct as_of_date from member_state_history

),

period_pairs as (

    select
        as_of_date as from_date,
        lead(as_of_date) over (order by as_of_date) as to_date
    from as_of_dates

),

-- Everyone tagged on either date of a pair.
pair_members as (

    select
        period_pairs.from_date,
        period_pairs.to_date,
        member_state_history.one_id
    from period_pairs
    inner join member_state_history
        on period_pairs.from_date = member_state_history.as_of_date
    where period_pairs.to_date is not null
    union
    select
        period_pairs.from_date,
        period_pairs.to_date,
        member_state_history.one_id
    from period_pairs
    inner join member_state_history
        on period_pairs.to_date = member_state_history.as_of_date

),

paired as (

    select
        pair_members.from_date,
        pair_members.to_date,
        pair_members.one_id,
        {% for dimension in dimensions -%}
            case
                when from_states.one_id is null then '(absent)' else coalesce(from_states.{{ dimension }}, '(none)')
            end as from_{{ dimension }},
            case
                when to_states.one_id is null then '(absent)' else coalesce(to_states.{{ dimension }}, '(none)')
            end as to_{{ dimension }},
        {% endfor -%}
        coalesce(to_states.period_order_count, 0) > coalesce(from_states.period_order_count, 0)
            as is_frequency_raised,
        coalesce(to_states.period_average_spend, 0) > coalesce(from_states.period_average_spend, 0)
            as is_amount_raised
    from pair_members
    left join member_state_history as from_states
        on
            pair_members.from_date = from_states.as_of_date
            and pair_members.one_id = from_states.one_id
    left join member_state_history as to_states
        on
            pair_members.to_date = to_states.as_of_date
            and pair_members.one_id = to_states.one_id

),

moves as (

    {% for dimension in dimensions %}
        select
            '{{ dimension }}' as dimension,
            from_date,
            to_date,
            from_{{ dimension }} as from_state,
            to_{{ dimension }} as to_state,
            count(*) as member_count,
            sum(case when is_frequency_raised then 1 else 0 end) as frequency_raised_count,
            sum(case when is_amount_raised then 1 else 0 end) as amount_raised_count
        from paired
        group by from_date, to_date, from_{{ dimension }}, to_{{ dimension }}
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

final as (

    select
        {{ dbt.concat([
            'dimension', "'|'", 'cast(from_date as ' ~ dbt.type_string() ~ ')', "'|'", 'from_state', "'|'", 'to_state'
        ]) }} as transition_key,
        dimension,
        from_date,
        to_date,
        from_state,
        to_state,
        member_count,
        cast(member_count as double)
        / sum(member_count) over (partition by dimension, from_date, from_state) as share_of_from_state,
        cast(frequency_raised_count as double) / member_count as frequency_raised_share,
        cast(amount_raised_count as double) / member_count as amount_raised_share
    from moves

)

select * from final
