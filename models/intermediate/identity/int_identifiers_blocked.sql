{#- Identifiers that must never stitch records together, with the reason. An identifier may be
    blocked for several reasons; each reason is a row. -#}
with

identifiers_observed as (

    select * from {{ ref('int_identifiers_observed') }}

),

identity_blocklist as (

    select * from {{ ref('identity_blocklist') }}

),

stores as (

    select * from {{ ref('stg_commerce__stores') }}

),

record_counts as (

    select
        id_type,
        id_value,
        count(distinct {{ dbt.concat(['source_system', "'|'", 'source_record_id']) }}) as source_record_count
    from identifiers_observed
    where id_value is not null and source_record_id is not null
    group by id_type, id_value

),

blocklisted as (

    select
        identity_blocklist.id_type,
        identity_blocklist.id_value,
        'blocklisted' as block_reason,
        identity_blocklist.block_reason as block_detail
    from identity_blocklist

),

store_phones as (

    select distinct
        'phone' as id_type,
        store_phone as id_value,
        'store_phone' as block_reason,
        'the phone of a store; cashiers type it for walk-in customers' as block_detail
    from stores
    where store_phone is not null

),

-- One person has a handful of records; an identifier on many more is shared (a cashier's own
-- phone, a family tablet), and stitching through it would merge strangers.
shared as (

    select
        id_type,
        id_value,
        'shared' as block_reason,
        {{ dbt.concat([
            "'seen on '",
            "cast(source_record_count as " ~ dbt.type_string() ~ ")",
            "' source records, more than the limit of " ~ var('onedata__identity_max_records_per_identifier') ~ "'",
        ]) }} as block_detail
    from record_counts
    where source_record_count > {{ var('onedata__identity_max_records_per_identifier') }}

),

unioned as (

    select * from blocklisted
    union all
    select * from store_phones
    union all
    select * from shared

),

final as (

    select
        unioned.id_type,
        unioned.id_value,
        unioned.block_reason,
        unioned.block_detail,
        coalesce(record_counts.source_record_count, 0) as source_record_count
    from unioned
    left join record_counts
        on
            unioned.id_type = record_counts.id_type
            and unioned.id_value = record_counts.id_value

)

select * from final
