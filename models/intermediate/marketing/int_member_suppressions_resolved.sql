{#- Every enforceable suppression (staging accepted it) with each person it names, whatever its
    dates: the mart keeps those active as of one date, the ledger check asks what held at each send.

    A suppression names a person three ways: a one_id directly; a phone, e-mail or unionid through
    One ID (dim_identifiers, where a blocked, shared identifier resolves to nobody); and, for the same
    values, every member whose contact address it is (dim_members), so that a shared phone that
    survived as someone's phone is not texted either. One suppression found two ways counts once. -#}
with

suppressions as (

    select * from {{ ref('stg_marketing__suppressions') }}
    where rejection_reason is null

),

identifiers as (

    select * from {{ ref('dim_identifiers') }}

),

members as (

    select * from {{ ref('dim_members') }}

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
        suppressions.suppression_id
    from suppressions
    inner join members
        on
            suppressions.identifier_type = 'one_id'
            and suppressions.identifier_value = members.one_id

),

suppressed_by_identifier as (

    select
        identifiers.one_id,
        suppressions.suppression_id
    from suppressions
    inner join identifiers
        on
            suppressions.identifier_type = identifiers.id_type
            and suppressions.identifier_value = identifiers.id_value
    where identifiers.one_id is not null

),

suppressed_by_address as (

    select
        member_addresses.one_id,
        suppressions.suppression_id
    from suppressions
    inner join member_addresses
        on
            suppressions.identifier_type = member_addresses.id_type
            and suppressions.identifier_value = member_addresses.id_value

),

resolved as (

    select * from suppressed_by_one_id
    union
    select * from suppressed_by_identifier
    union
    select * from suppressed_by_address

),

final as (

    select
        resolved.one_id,
        suppressions.suppression_id,
        suppressions.identifier_type,
        suppressions.reason,
        suppressions.channel,
        suppressions.is_every_channel,
        suppressions.suppressed_at,
        suppressions.lifted_at
    from resolved
    inner join suppressions
        on resolved.suppression_id = suppressions.suppression_id

)

select * from final
