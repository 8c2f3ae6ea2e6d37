{#- Each person's state (value tier, lifecycle and AIPL stage, level, period frequency and spend) as
    of every as-of date a build has tagged: the history that transitions are read from. A build
    replaces the rows of its own as-of date, so replaying past dates
    (`dbt build --vars '{onedata__as_of_date: 2026-06-30}'`) fills the history in.

    full_refresh=false: the history is state, not derived data; --full-refresh keeps it. -#}
{{ config(
    materialized='incremental',
    incremental_strategy=('insert_overwrite' if target.type == 'spark' else 'delete+insert'),
    unique_key=(none if target.type == 'spark' else 'as_of_date'),
    partition_by=(['as_of_date'] if target.type == 'spark' else none),
    full_refresh=false,
) }}

with

member_profiles as (

    select * from {{ ref('member_profiles') }}

),

final as (

    select
        one_id,
        rfm_group,
        lifecycle_stage,
        aipl_stage,
        member_level,
        is_high_value,
        period_order_count,
        period_average_spend,
        period_spend,
        as_of_date
    from member_profiles

)

select * from final
