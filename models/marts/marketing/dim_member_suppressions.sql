{#- Who must not be contacted: one row per person and channel ('all' = every channel) with a
    suppression active as of var onedata__as_of_date (begun by the end of that day, not lifted by
    then), with the reason and start of the earliest such suppression.

    A suppression names a person three ways: a one_id directly; a phone, e-mail or unionid through
    One ID (dim_identifiers, where a blocked, shared identifier resolves to nobody); and, for the same
    values, every member whose contact address it is (dim_members), so that a shared phone that
    survived as someone's phone is not texted either. Rejected rows and values that name nobody
    stay visible in stg_marketing__suppressions. -#}
{%- set is_latest = var('onedata__as_of_date') == 'latest' -%}
with

suppressions as (

    select * from {{ ref('stg_marketing__suppressions') }}

),

identifiers as (

    select * from {{ ref('dim_identifiers') }}

),

members as (

    select * from {{ ref('dim_members') }}

),

as_of as (

    select {{ as_of_date(ref('fct_orders')) }} as as_of_date

),

active_suppressions as (

    select
        suppressions.suppression_id,
        suppressions.identifier_type,
        suppressions.identifier_value,
        suppressions.reason,
        suppressions.channel,
        suppressions.is_every_channel,
        as_of.as_of_date,
        suppressions.suppressed_at
    from suppressions
    cross join as_of
    where
        suppressions.rejection_reason is null
        {#- 'latest' is the day of the latest order, but audiences are sent now: a suppression
            recorded after that day already counts (its lift only once the orders catch up). #}
        {%- if not is_latest %}
            and (
                suppressions.suppressed_at is null
                or cast(suppressions.suppressed_at as date) <= as_of.as_of_date
            )
        {%- endif %}
        and (
            suppressions.lifted_at is null
            or cast(suppressions.lifted_at as date) > as_of.as_of_date
        )

),

member_addresses as (

    select
        one_id,
        'phone' as id_type,
        phone as id_value
    from members
    where phone is not null

    union all

    select
        one_id,
        'email' as id_type,
        email as id_value
    from members
    where email is not null

    union all

    select
        one_id,
        'wechat_unionid' as id_type,
        wechat_unionid as id_value
    from members
    where wechat_unionid is not null

),

suppressed_by_one_id as (

    select
        members.one_id,
        active_suppressions.*
    from active_suppressions
    inner join members
        on
            active_suppressions.identifier_type = 'one_id'
            and active_suppressions.identifier_value = members.one_id

),

suppressed_by_identifier as (

    select
        identifiers.one_id,
        active_suppressions.*
    from active_suppressions
    inner join identifiers
        on
            active_suppressions.identifier_type = identifiers.id_type
            and active_suppressions.identifier_value = identifiers.id_value
    where identifiers.one_id is not null

),

suppressed_by_address as (

    select
        member_addresses.one_id,
        active_suppressions.*
    from active_suppressions
    inner join member_addresses
        on
            active_suppressions.identifier_type = member_addresses.id_type
            and active_suppressions.identifier_value = member_addresses.id_value

),

-- One suppression found both through One ID and as the person's address counts once.
resolved as (

    select * from suppressed_by_one_id
    union
    select * from suppressed_by_identifier
    union
    select * from suppressed_by_address

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
    from resolved

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
