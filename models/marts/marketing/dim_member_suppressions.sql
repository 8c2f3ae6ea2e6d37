{#- Who must not be contacted: one row per person and channel ('all' = every channel) with a
    suppression active as of var onedata__as_of_date (begun by the end of that day, not lifted by
    then), with the reason and start of the earliest such suppression. Suppressions are resolved to
    people in int_member_suppressions_resolved; rejected rows and values that name nobody stay
    visible in stg_marketing__suppressions. -#}
{#- With 'latest' (the day of the latest order) audiences are sent after that day: a suppression
    recorded since already counts (its lift only once the orders catch up). -#}
{%- if var('onedata__as_of_date') == 'latest' -%}
    {%- set begun_by_as_of = 'true' -%}
{%- else -%}
    {%- set begun_by_as_of = to_local_date('member_suppressions.suppressed_at') ~ ' <= as_of.as_of_date' -%}
{%- endif -%}
with

member_suppressions as (

    select * from {{ ref('int_member_suppressions_resolved') }}

),

as_of as (

    select * from {{ ref('int_as_of_date') }}

),

active as (

    select
        member_suppressions.*,
        as_of.as_of_date
    from member_suppressions
    cross join as_of
    where
        (
            member_suppressions.lifted_at is null
            or {{ to_local_date('member_suppressions.lifted_at') }} > as_of.as_of_date
        )
        and (
            member_suppressions.suppressed_at is null
            or {{ begun_by_as_of }}
        )

),

ranked as (

    select
        *,
        row_number() over (
            partition by one_id, channel
            order by
                case when suppressed_at is null then 0 else 1 end,
                suppressed_at,
                suppression_id
        ) as suppression_rank,
        count(*) over (partition by one_id, channel) as suppression_count
    from active

),

final as (

    select
        {{ dbt.concat(['one_id', "'|'", 'channel']) }} as member_suppression_key,
        one_id,
        channel,
        reason,
        suppression_id,
        identifier_type,
        suppression_count,
        is_every_channel,
        as_of_date,
        suppressed_at
    from ranked
    where suppression_rank = 1

)

select * from final
