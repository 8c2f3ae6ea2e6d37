{#- No ineligible member was ever sent. Every record the activation ledger says was sent (send_status
    'sent', operation add or update) must have gone to a known member who, at the row's recorded_at,
    had consent on the row's channel and no suppression on that channel or on all channels. On the
    ad_platform channel that consent is PIPL's separate one (is_ad_platform_consented).

    Consent is judged at the send, not now: the rule of dim_members' is_<channel>_consented (the
    person's most recent consent event on the channel decides, a revocation winning a tie) applied
    to the events recorded by then, so a member who revokes after a legitimate send does not fail
    this test. Suppressions are resolved to people by int_member_suppressions_resolved, over their
    whole history (the mart keeps only those active as of one date). Returns each offending
    send with why. Sends to a one_id a later merge retired, and rows written before the ledger had
    a channel, cannot be judged and are left out. -#}
with

ledger as (

    select * from {{ source('activation', 'sync_ledger') }}

),

consent_events as (

    select * from {{ ref('stg_marketing__consent_events') }}

),

source_records as (

    select * from {{ ref('dim_source_records') }}

),

person_suppressions as (

    select * from {{ ref('int_member_suppressions_resolved') }}

),

members as (

    select * from {{ ref('dim_members') }}

),

sends as (

    select distinct
        sync_run_id,
        campaign_id,
        destination_name,
        channel,
        one_id,
        operation,
        batch_number,
        recorded_at
    from ledger
    where send_status = 'sent' and operation in ('add', 'update')

),

person_consent_events as (

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

),

-- One row per send: the last grant and revocation on its channel by then, and whether a
-- suppression on its channel (or all) held then.
send_facts as (

    select
        sends.sync_run_id,
        sends.campaign_id,
        sends.destination_name,
        sends.channel,
        sends.one_id,
        sends.operation,
        sends.batch_number,
        sends.recorded_at,
        max(case when person_consent_events.is_granted then person_consent_events.recorded_at end)
            as last_granted_at,
        max(case when not person_consent_events.is_granted then person_consent_events.recorded_at end)
            as last_revoked_at,
        max(case when person_suppressions.one_id is not null then 1 else 0 end) = 1 as is_suppressed
    from sends
    left join person_consent_events
        on
            sends.one_id = person_consent_events.one_id
            and sends.channel = person_consent_events.channel
            and sends.recorded_at >= person_consent_events.recorded_at
    left join person_suppressions
        on
            sends.one_id = person_suppressions.one_id
            and person_suppressions.channel in ('all', sends.channel)
            and (person_suppressions.suppressed_at is null or sends.recorded_at >= person_suppressions.suppressed_at)
            and (person_suppressions.lifted_at is null or sends.recorded_at < person_suppressions.lifted_at)
    group by
        sends.sync_run_id,
        sends.campaign_id,
        sends.destination_name,
        sends.channel,
        sends.one_id,
        sends.operation,
        sends.batch_number,
        sends.recorded_at

),

judged as (

    select
        send_facts.sync_run_id,
        send_facts.campaign_id,
        send_facts.destination_name,
        send_facts.channel,
        send_facts.one_id,
        send_facts.operation,
        send_facts.batch_number,
        send_facts.recorded_at,
        case
            when send_facts.is_suppressed then 'suppressed'
            when
                (send_facts.last_granted_at is null or send_facts.last_revoked_at >= send_facts.last_granted_at)
                and send_facts.channel = 'ad_platform'
                then 'no_ad_platform_consent'
            when send_facts.last_granted_at is null or send_facts.last_revoked_at >= send_facts.last_granted_at
                then 'no_consent'
        end as violation
    from send_facts
    -- Only what can be judged: a one_id retired by a later merge has lost its records, and a row
    -- written before the ledger had a channel column names no channel.
    inner join members
        on send_facts.one_id = members.one_id
    where send_facts.channel is not null

)

select * from judged
where violation is not null
