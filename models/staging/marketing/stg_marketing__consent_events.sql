with

-- The rows that meet the landing contract; the others are in landing_quarantine.
landed as (

    select * from {{ ref('base_marketing__consent_events') }}
    where rejection_reason is null

),

renamed as (

    select
        consent_event_id,
        lower(trim(source_system)) as source_system,
        source_record_id,
        lower(trim(channel)) as channel,
        lower(trim(consent_status)) as consent_status,
        lower(trim(consent_status)) = 'granted' as is_granted,
        recorded_at

    from landed

)

select * from renamed
