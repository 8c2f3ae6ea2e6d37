{#- One row per record operation activation sent (or tried to send) to a destination. -#}
select
    sync_run_id,
    campaign_id,
    one_id,
    audience_name,
    destination_name,
    idempotency_key,
    payload_fingerprint,
    operation,
    send_status,
    error_message,
    batch_number,
    send_status = 'sent' as is_sent,
    recorded_at
from {{ ref('stg_activation__sync_ledger') }}
