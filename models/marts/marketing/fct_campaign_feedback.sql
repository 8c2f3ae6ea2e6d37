select
    feedback_event_id,
    campaign_id,
    one_id,
    order_id,
    destination_name,
    event_type,
    revenue_amount,
    occurred_at
from {{ ref('stg_marketing__feedback_events') }}
