with

source as (

    select * from {{ source('marketing', 'marketing_consent') }}

),

renamed as (

    select
        cast(consent_event_id as {{ dbt.type_string() }}) as consent_event_id,
        lower(trim(source_system)) as source_system,
        cast(source_record_id as {{ dbt.type_string() }}) as source_record_id,
        lower(trim(channel)) as channel,
        lower(trim(consent_status)) as consent_status,
        lower(trim(consent_status)) = 'granted' as is_granted,
        cast(recorded_at as {{ dbt.type_timestamp() }}) as recorded_at

    from source

)

select * from renamed
