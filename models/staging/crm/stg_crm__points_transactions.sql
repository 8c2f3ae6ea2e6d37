with

-- The rows that meet the landing contract; the others are in landing_quarantine.
landed as (

    select * from {{ ref('base_crm__points_transactions') }}
    where rejection_reason is null

),

renamed as (

    select
        points_transaction_id,
        'crm' as source_system,
        member_id as source_record_id,
        lower(trim(transaction_type)) as transaction_type,
        points,
        order_id,
        occurred_at

    from landed

)

select * from renamed
