{#- Each customer source record as One ID compares it over time: its active period (registration
    to last update; either alone when the other is missing) and its stable attributes, normalised
    for comparison (macros/identity/identity_attributes_conflict.sql). A view: the two models that
    read it join only a few of its rows. -#}
{{ config(materialized='view') }}

with

customer_records as (

    select * from {{ ref('int_customer_records_unioned') }}

),

final as (

    select
        {{ dbt.concat(["'r|'", 'source_system', "'|'", 'source_record_id']) }} as carrier_node_id,
        source_system,
        source_record_id,
        case when gender in ('M', 'F') then gender end as gender,
        -- Spaces (ASCII and full-width) are how one name is most often written two ways.
        nullif(lower(replace(replace(full_name, ' ', ''), '　', '')), '') as full_name,
        birth_date,
        least(coalesce(registered_at, updated_at), coalesce(updated_at, registered_at)) as active_from,
        greatest(coalesce(registered_at, updated_at), coalesce(updated_at, registered_at)) as active_to
    from customer_records

)

select * from final
