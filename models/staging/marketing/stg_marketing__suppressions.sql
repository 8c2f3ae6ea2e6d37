{#- The global suppression list: who must not be contacted (on one channel or on every channel),
    why and since when. Identifiers are normalised like the customer records' are; a row that
    cannot be enforced (no usable identifier, an unknown identifier type or channel, lifted before
    it began) is kept with its rejection_reason, for a data steward, instead of being dropped. -#}
{%- set channel_list = "'" ~ consent_channels() | join("', '") ~ "'" -%}
with

source as (

    select * from {{ source('marketing', 'suppression_list') }}

),

renamed as (

    select
        cast(suppression_id as {{ dbt.type_string() }}) as suppression_id,
        lower(trim(identifier_type)) as identifier_type,
        cast(identifier_value as {{ dbt.type_string() }}) as identifier_value_raw,
        lower(trim(reason)) as reason,
        -- Null (or 'all') suppresses every channel.
        coalesce(nullif(lower(trim(channel)), ''), 'all') as channel,
        cast(suppressed_at as {{ dbt.type_timestamp() }}) as suppressed_at,
        cast(lifted_at as {{ dbt.type_timestamp() }}) as lifted_at

    from source

),

normalised as (

    select
        *,
        case identifier_type
            when 'phone' then {{ normalize_phone('identifier_value_raw') }}
            when 'email' then {{ normalize_email('identifier_value_raw') }}
            when 'wechat_unionid' then nullif(trim(identifier_value_raw), '')
            when 'one_id' then nullif(trim(identifier_value_raw), '')
        end as identifier_value
    from renamed

),

flagged as (

    select
        suppression_id,
        identifier_type,
        identifier_value,
        identifier_value_raw,
        reason,
        channel,
        -- The first reason the row cannot be enforced; null when it can.
        case
            when identifier_type is null
                or identifier_type not in ('phone', 'email', 'wechat_unionid', 'one_id')
                then 'unknown_identifier_type'
            when identifier_value_raw is null or trim(identifier_value_raw) = '' then 'empty_identifier'
            when identifier_type = 'phone' and identifier_value is null
                then {{ phone_rejection_reason('identifier_value_raw') }}
            when identifier_type = 'email' and identifier_value is null
                then {{ email_rejection_reason('identifier_value_raw') }}
            when channel not in ('all', {{ channel_list }})
                then 'unknown_channel'
            when lifted_at < suppressed_at then 'lifted_before_suppressed'
        end as rejection_reason,
        channel = 'all' as is_every_channel,
        suppressed_at,
        lifted_at
    from normalised

)

select * from flagged
