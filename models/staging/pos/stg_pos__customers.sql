with

-- The rows that meet the landing contract; the others are in landing_quarantine.
landed as (

    select * from {{ ref('base_pos__customers') }}
    where rejection_reason is null

),

renamed as (

    select
        'pos' as source_system,
        pos_customer_id as source_record_id,
        pos_customer_id,
        store_id,

        {{ normalize_phone('phone') }} as phone,
        {{ normalize_identifier("'member_card'", 'member_card_no', 'null') }} as member_card_no,
        phone as phone_raw,
        member_card_no as member_card_no_raw,

        nullif(trim(full_name), '') as full_name,
        first_seen_at,
        updated_at

    from landed

)

select * from renamed
