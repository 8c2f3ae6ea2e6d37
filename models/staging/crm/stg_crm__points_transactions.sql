with

source as (

    select * from {{ source('crm', 'points_transactions') }}

),

renamed as (

    select
        cast(points_transaction_id as {{ dbt.type_string() }}) as points_transaction_id,
        'crm' as source_system,
        cast(member_id as {{ dbt.type_string() }}) as source_record_id,
        lower(trim(transaction_type)) as transaction_type,
        cast(points as {{ dbt.type_int() }}) as points,
        cast(order_id as {{ dbt.type_string() }}) as order_id,
        cast(occurred_at as {{ dbt.type_timestamp() }}) as occurred_at

    from source

)

select * from renamed
