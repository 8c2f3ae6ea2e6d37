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

-- One person has one or two accounts in a source system; an identifier on more records of one
-- system than its type's limit is shared (a cashier's own phone, a test number, a family
-- tablet), and stitching through it would merge strangers.
system_record_counts as (

    select
        id_type,
        id_value,
        source_system,
        count(distinct source_record_id) as system_record_count
    from identifiers_observed
    where id_value is not null and source_record_id is not null
    group by id_type, id_value, source_system

),

record_counts as (

    select
        id_type,
        id_value,
        sum(system_record_count) as source_record_count,
        max(system_record_count) as max_records_in_one_system,
        {{ limit_for_type('id_type', var('onedata__identity_max_records_per_system')) }}
            as max_records_per_system
    from system_record_counts
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

shared as (

    select
        id_type,
        id_value,
        'shared' as block_reason,
        {{ dbt.concat([
            "'seen on '",
            "cast(max_records_in_one_system as " ~ dbt.type_string() ~ ")",
            "' records of one source system, more than the limit of '",
            "cast(max_records_per_system as " ~ dbt.type_string() ~ ")",
        ]) }} as block_detail
    from record_counts
    where max_records_in_one_system > max_records_per_system

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
