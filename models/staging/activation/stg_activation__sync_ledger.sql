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
        operation,
        send_status,
        error_message,
        batch_number,
        recorded_at

    from source

)

select * from renamed
