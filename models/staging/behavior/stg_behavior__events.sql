with

-- The rows that meet the landing contract; the others are in landing_quarantine.
landed as (

    select * from {{ ref('base_behavior__events') }}
    where rejection_reason is null

),

renamed as (

    select
        event_id,
        lower(trim(source_system)) as source_system,
        source_record_id,
        product_id,
        category_id,
        lower(trim(channel)) as channel,
        lower(trim(event_type)) as event_type,
        nullif(trim(search_term), '') as search_term,
        occurred_at

    from landed

)

select * from renamed
