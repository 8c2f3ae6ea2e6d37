{#- Per person and touch-point channel, the most recent consent event across all of the person's
    records decides; on a tie a revocation wins. No event means no consent. An unsubscribe link
    clicked (an `unsubscribed` feedback event) revokes the consent of the channel the destination
    that sent it sends on. -#}
{%- set touch_channels = consent_channels() -%}
with

consent_events as (

    select * from {{ ref('stg_marketing__consent_events') }}

),

source_records as (

    select * from {{ ref('dim_source_records') }}

),

feedback_events as (

    select * from {{ ref('stg_marketing__feedback_events') }}

),

sync_ledger as (

    select * from {{ ref('stg_activation__sync_ledger') }}

),

destination_channels as (

    select distinct
        destination_name,
        channel
    from sync_ledger
    where channel is not null

),

unsubscribes as (

    select
        feedback_events.one_id,
        destination_channels.channel,
        false as is_granted,
        feedback_events.occurred_at as recorded_at
    from feedback_events
    inner join destination_channels
        on feedback_events.destination_name = destination_channels.destination_name
    where feedback_events.event_type = 'unsubscribed'

),

person_events as (

    select
        source_records.one_id,
        consent_events.channel,
        consent_events.is_granted,
        consent_events.recorded_at
    from consent_events
    inner join source_records
        on
            consent_events.source_system = source_records.source_system
            and consent_events.source_record_id = source_records.source_record_id

    union all

    select
        one_id,
        channel,
        is_granted,
        recorded_at
    from unsubscribes

),

person_consent_events as (

    select
        one_id,
        channel,
        is_granted,
        row_number() over (
            partition by one_id, channel
            order by recorded_at desc, is_granted asc
        ) as recency_rank
    from person_events

),

pivoted as (

    select
        one_id,
        {% for channel in touch_channels %}
            coalesce(max(case when channel = '{{ channel }}' and is_granted then 1 else 0 end), 0) = 1
                as is_{{ channel }}_consented{% if not loop.last %},{% endif %}
        {% endfor %}
    from person_consent_events
    where recency_rank = 1
    group by one_id

)

select * from pivoted
