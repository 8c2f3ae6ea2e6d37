{#- Churn warnings (seed 003): a high-value member 15 days without a purchase, and a growth member
    (buying every one to two weeks) 21 days without one, get a recall. Churned members are past
    recall and are left to win-back. -#}
with

lifecycle_stages as (

    select * from {{ ref('tag_lifecycle_stages') }}

),

rfm_groups as (

    select * from {{ ref('tag_rfm_groups') }}

),

final as (

    select
        lifecycle_stages.one_id,
        lifecycle_stages.days_since_last_order,
        coalesce(
            rfm_groups.is_high_value
            and lifecycle_stages.lifecycle_stage <> 'churned'
            and lifecycle_stages.days_since_last_order >= {{ var('onedata__warning_high_value_lapse_days') }},
            false
        ) as is_high_value_lapse_warning,
        coalesce(
            lifecycle_stages.lifecycle_stage = 'growth'
            and lifecycle_stages.days_since_last_order >= {{ var('onedata__warning_growth_lapse_days') }},
            false
        ) as is_growth_lapse_warning,
        lifecycle_stages.as_of_date
    from lifecycle_stages
    left join rfm_groups
        on lifecycle_stages.one_id = rfm_groups.one_id

)

select * from final
