{#- The global suppression list: who must not be contacted (on one channel or on every channel),
    why and since when. Identifiers are normalised like the customer records' are; a row whose
    identifier cannot be used (empty, a masked phone, an invalid e-mail) is kept with its
    rejection_reason, for a data steward, instead of being dropped. Rows that break the landing
    contract (an unknown identifier type or channel, lifted before it began) are in
    landing_quarantine instead. -#}
with

-- The rows that meet the landing contract; the others are in landing_quarantine.
landed as (

    select * from {{ ref('base_marketing__suppressions') }}
    where rejection_reason is null

),

renamed as (

    select
        suppression_id,
        lower(trim(identifier_type)) as identifier_type,
        identifier_value as identifier_value_raw,
        lower(trim(reason)) as reason,
        -- Null (or 'all') suppresses every channel.
        coalesce(nullif(lower(trim(channel)), ''), 'all') as channel,
        suppressed_at,
        lifted_at

    from landed

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
            when identifier_value_raw is null or trim(identifier_value_raw) = '' then 'empty_identifier'
            when identifier_type = 'phone' and identifier_value is null
                then {{ phone_rejection_reason('identifier_value_raw') }}
            when identifier_type = 'email' and identifier_value is null
                then {{ email_rejection_reason('identifier_value_raw') }}
        end as rejection_reason,
        channel = 'all' as is_every_channel,
        suppressed_at,
        lifted_at
    from normalised

)

select * from flagged
