{#- Per person and touch-point channel, the most recent consent event across all of the person's
    records decides; on a tie a revocation wins. No event means no consent. -#}
{%- set touch_channels = consent_channels() -%}
with

consent_events as (

    select * from {{ ref('stg_marketing__consent_events') }}

),

source_records as (

    select * from {{ ref('dim_source_records') }}

),

person_consent_events as (

    select
        source_records.one_id,
        consent_events.channel,
        consent_events.is_granted,
        row_number() over (
            partition by source_records.one_id, consent_events.channel
            order by consent_events.recorded_at desc, consent_events.is_granted asc
        ) as recency_rank
    from consent_events
    inner join source_records
        on
            consent_events.source_system = source_records.source_system
            and consent_events.source_record_id = source_records.source_record_id

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
