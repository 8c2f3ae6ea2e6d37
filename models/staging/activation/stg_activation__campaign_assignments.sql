with

source as (

    select * from {{ source('activation', 'campaign_assignments') }}

),

renamed as (

    select
        campaign_id,
        one_id,
        audience_name,
        destination_name,
        sync_run_id,
        assignment_group,
        -- A variant belongs to the treated side only: the holdout is shared by every variant.
        -- Rows written before A/B variants existed get the sync's single variant, `default`.
        case
            when assignment_group = 'treated' then coalesce(lower(trim(variant)), 'default')
        end as variant,
        -- Rows written before holdout scopes existed were campaign holdouts.
        case
            when assignment_group = 'holdout' then coalesce(lower(trim(holdout_scope)), 'campaign')
        end as holdout_scope,
        assignment_group = 'holdout' as is_holdout,
        assigned_at

    from source

)

select * from renamed
