with

behavior_events as (

    select * from {{ ref('stg_behavior__events') }}

),

source_records as (

    select * from {{ ref('dim_source_records') }}

),

final as (

    select
        behavior_events.event_id,
        source_records.one_id,
        behavior_events.source_system,
        behavior_events.source_record_id,
        behavior_events.product_id,
        behavior_events.category_id,
        behavior_events.channel,
        behavior_events.event_type,
        {{ aipl_signal('behavior_events.event_type') }} as aipl_signal,
        behavior_events.search_term,
        {{ to_local_date('behavior_events.occurred_at') }} as event_date,
        behavior_events.occurred_at
    from behavior_events
    left join source_records
        on
            behavior_events.source_system = source_records.source_system
            and behavior_events.source_record_id = source_records.source_record_id

)

select * from final
