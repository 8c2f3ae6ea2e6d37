{#- A view: the runs `activate sync` writes as it goes, current between builds. -#}
{{ config(materialized='view') }}

with

sync_runs as (

    select * from {{ ref('stg_activation__sync_runs') }}

),

final as (

    select
        sync_run_id,
        audience_name,
        destination_name,
        campaign_id,
        sync_mode,
        audience_version,
        run_status,
        guardrail_message,
        audience_count,
        added_count,
        removed_count,
        unchanged_count,
        held_out_count,
        suppressed_count,
        rejected_count,
        capped_count,
        is_dry_run,
        is_completed,
        started_at,
        finished_at
    from sync_runs

)

select * from final
