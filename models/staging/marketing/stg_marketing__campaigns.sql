with

-- The rows that meet the landing contract; the others are in landing_quarantine.
landed as (

    select * from {{ ref('base_marketing__campaigns') }}
    where rejection_reason is null

),

renamed as (

    select
        campaign_id,
        trim(campaign_name) as campaign_name,
        lower(trim(channel)) as channel,
        trim(audience_name) as audience_name,
        cost_amount,
        attribution_window_days,
        started_at,
        ended_at

    from landed

)

select * from renamed
