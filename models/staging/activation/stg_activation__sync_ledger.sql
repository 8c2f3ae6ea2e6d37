with

source as (

    select * from {{ source('activation', 'sync_ledger') }}

),

renamed as (

    select
        sync_run_id,
        campaign_id,
        audience_name,
        destination_name,
        one_id,
        idempotency_key,
        payload_fingerprint,
        destination_reference,
        lower(trim(channel)) as channel,
        sync_mode,
        audience_version,
        lower(trim(variant)) as variant,
        operation,
        send_status,
        error_message,
        batch_number,
        -- Rows written before costs were recorded cost nothing we know of.
        coalesce(unit_cost, 0) as unit_cost,
        send_status = 'sent' as is_sent,
        recorded_at

    from source

)

select * from renamed
