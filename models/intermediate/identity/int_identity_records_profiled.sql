{#- Each customer source record's stable attributes as One ID compares them
    (macros/identity/identity_attributes_conflict.sql): a gender of M or F, else null; a full name
    lower-cased without spaces. A view: the two models that read it join only a few of its rows. -#}
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
        birth_date
    from customer_records

)

select * from final
