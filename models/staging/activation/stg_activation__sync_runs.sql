{#- A view, so that it shows the runs `activate sync` writes as it goes, not as of the last build. -#}
with

source as (

    select * from {{ source('activation', 'sync_runs') }}

),

renamed as (

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
        coalesce(is_dry_run, false) as is_dry_run,
        -- The statuses of a finished run (COMPLETED_STATUSES in activation/state.py).
        run_status in ('succeeded', 'completed_with_rejections') as is_completed,
        started_at,
        finished_at

    from source

)

select * from renamed
