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
        assignment_group = 'holdout' as is_holdout,
        assigned_at

    from source

)

select * from renamed
