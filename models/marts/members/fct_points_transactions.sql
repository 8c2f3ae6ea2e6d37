{#- The loyalty points ledger with the person each entry belongs to. -#}
with

points_transactions as (

    select * from {{ ref('stg_crm__points_transactions') }}

),

source_records as (

    select * from {{ ref('dim_source_records') }}

),

final as (

    select
        points_transactions.points_transaction_id,
        source_records.one_id,
        points_transactions.source_record_id as member_id,
        points_transactions.transaction_type,
        points_transactions.points,
        points_transactions.order_id,
        {{ to_local_date('points_transactions.occurred_at') }} as occurred_date,
        points_transactions.occurred_at
    from points_transactions
    left join source_records
        on
            points_transactions.source_system = source_records.source_system
            and points_transactions.source_record_id = source_records.source_record_id

)

select * from final
