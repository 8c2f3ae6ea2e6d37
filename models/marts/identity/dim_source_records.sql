with

customer_records as (

    select * from {{ ref('int_customer_records_unioned') }}

),

identity_one_ids as (

    select * from {{ ref('int_identity_one_ids') }}

),

record_components as (

    select
        customer_records.source_system,
        customer_records.source_record_id,
        identity_one_ids.one_id,
        customer_records.is_loyalty_member,
        customer_records.registered_at,
        customer_records.updated_at
    from customer_records
    inner join identity_one_ids
        on {{ dbt.concat(["'r|'", 'customer_records.source_system', "'|'", 'customer_records.source_record_id']) }}
            = identity_one_ids.node_id

),

final as (

    select
        {{ dbt.concat(['source_system', "'|'", 'source_record_id']) }} as source_record_key,
        one_id,
        source_system,
        source_record_id,
        count(*) over (partition by one_id) as records_in_person,
        is_loyalty_member,
        registered_at,
        updated_at
    from record_components

)

select * from final
