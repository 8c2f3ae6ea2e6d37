{#- One row per record operation activation sent (or tried to send) to a destination, with what
    sending it cost. -#}
select
    sync_run_id,
    campaign_id,
    one_id,
    idempotency_key,
    payload_fingerprint,
    destination_reference,
    audience_name,
    audience_version,
    destination_name,
    channel,
    sync_mode,
    variant,
    operation,
    send_status,
    error_message,
    batch_number,
    unit_cost,
    is_sent,
    {{ to_local_date('recorded_at') }} as recorded_date,
    recorded_at
from {{ ref('stg_activation__sync_ledger') }}
