with

source as (

    select * from {{ source('marketing', 'campaigns') }}

),

renamed as (

    select
        cast(campaign_id as {{ dbt.type_string() }}) as campaign_id,
        trim(campaign_name) as campaign_name,
        lower(trim(channel)) as channel,
        trim(audience_name) as audience_name,
        cast(cost_amount as decimal(18, 2)) as cost_amount,
        cast(attribution_window_days as {{ dbt.type_int() }}) as attribution_window_days,
        cast(started_at as {{ dbt.type_timestamp() }}) as started_at,
        cast(ended_at as {{ dbt.type_timestamp() }}) as ended_at

    from source

)

select * from renamed
