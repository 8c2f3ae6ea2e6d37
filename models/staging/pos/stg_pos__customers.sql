with

source as (

    select * from {{ source('pos', 'pos_customers') }}

),

renamed as (

    select
        'pos' as source_system,
        cast(pos_customer_id as {{ dbt.type_string() }}) as source_record_id,
        cast(pos_customer_id as {{ dbt.type_string() }}) as pos_customer_id,
        cast(store_id as {{ dbt.type_string() }}) as store_id,

        {{ normalize_phone('phone') }} as phone,
        {{ normalize_identifier("'member_card'", 'member_card_no', 'null') }} as member_card_no,
        cast(phone as {{ dbt.type_string() }}) as phone_raw,
        cast(member_card_no as {{ dbt.type_string() }}) as member_card_no_raw,

        nullif(trim(full_name), '') as full_name,
        cast(first_seen_at as {{ dbt.type_timestamp() }}) as first_seen_at,
        cast(updated_at as {{ dbt.type_timestamp() }}) as updated_at

    from source

)

select * from renamed
