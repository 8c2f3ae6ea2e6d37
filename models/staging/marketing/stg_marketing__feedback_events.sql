with

-- The rows that meet the landing contract; the others are in landing_quarantine.
landed as (

    select * from {{ ref('base_marketing__feedback_events') }}
    where rejection_reason is null

),

renamed as (

    select
        feedback_event_id,
        campaign_id,
        destination_name,
        one_id,
        order_id,
        lower(trim(event_type)) as event_type,
        revenue_amount,
        occurred_at

    from landed

),

-- A destination may report the same event twice (retried callbacks, a file loaded twice).
deduplicated as (

    select *
    from (
        select
            *,
            row_number() over (partition by feedback_event_id order by occurred_at) as report_number
        from renamed
    ) as numbered
    where report_number = 1

)

select
    feedback_event_id,
    campaign_id,
    destination_name,
    one_id,
    order_id,
    event_type,
    revenue_amount,
    occurred_at
from deduplicated
