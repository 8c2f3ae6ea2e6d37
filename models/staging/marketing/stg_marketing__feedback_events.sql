with

source as (

    select * from {{ source('marketing', 'feedback_events') }}

),

renamed as (

    select
        cast(feedback_event_id as {{ dbt.type_string() }}) as feedback_event_id,
        cast(campaign_id as {{ dbt.type_string() }}) as campaign_id,
        cast(destination_name as {{ dbt.type_string() }}) as destination_name,
        cast(one_id as {{ dbt.type_string() }}) as one_id,
        cast(order_id as {{ dbt.type_string() }}) as order_id,
        lower(trim(event_type)) as event_type,
        cast(revenue_amount as decimal(18, 2)) as revenue_amount,
        cast(occurred_at as {{ dbt.type_timestamp() }}) as occurred_at

    from source

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
