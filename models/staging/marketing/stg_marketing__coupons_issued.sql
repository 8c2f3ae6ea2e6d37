with

source as (

    select * from {{ source('marketing', 'coupons_issued') }}

),

renamed as (

    select
        cast(coupon_id as {{ dbt.type_string() }}) as coupon_id,
        cast(campaign_id as {{ dbt.type_string() }}) as campaign_id,
        lower(trim(source_system)) as source_system,
        cast(source_record_id as {{ dbt.type_string() }}) as source_record_id,
        lower(trim(coupon_type)) as coupon_type,
        lower(trim(channel)) as channel,
        cast(face_value as decimal(18, 2)) as face_value,
        cast(min_spend as decimal(18, 2)) as min_spend,
        cast(issued_at as {{ dbt.type_timestamp() }}) as issued_at,
        cast(expires_at as {{ dbt.type_timestamp() }}) as expires_at

    from source

)

select * from renamed
