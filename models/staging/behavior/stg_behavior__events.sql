with

source as (

    select * from {{ source('behavior', 'behavior_events') }}

),

renamed as (

    select
        cast(event_id as {{ dbt.type_string() }}) as event_id,
        lower(trim(source_system)) as source_system,
        cast(source_record_id as {{ dbt.type_string() }}) as source_record_id,
        cast(product_id as {{ dbt.type_string() }}) as product_id,
        cast(category_id as {{ dbt.type_string() }}) as category_id,
        lower(trim(channel)) as channel,
        lower(trim(event_type)) as event_type,
        nullif(trim(search_term), '') as search_term,
        cast(occurred_at as {{ dbt.type_timestamp() }}) as occurred_at

    from source

)

select * from renamed
