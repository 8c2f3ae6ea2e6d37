select
    store_id,
    store_name,
    channel,
    province,
    city,
    is_physical_store,
    opened_date
from {{ ref('stg_commerce__stores') }}
