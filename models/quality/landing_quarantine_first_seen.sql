{#- When each quarantined row was first seen: the build (dbt's invocation_id) and its start.
    Append-only, like the One ID registry: a build adds the rows it quarantined that no earlier
    build had, so a row still landed keeps the day it first went wrong.
    full_refresh=false: this is history, not derived data; --full-refresh keeps it. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    full_refresh=false,
) }}

with

rejected_rows as (

    select * from {{ ref('int_landing_rows_rejected') }}

),

{% if is_incremental() %}
    seen_before as (

        select quarantined_row_id from {{ this }}

    ),
{% else %}
    seen_before as (

        select cast(null as {{ dbt.type_string() }}) as quarantined_row_id
        where 1 = 0

    ),
{% endif %}

final as (

    select
        rejected_rows.quarantined_row_id,
        '{{ invocation_id }}' as first_seen_build_id,
        cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S") }}' as {{ dbt.type_timestamp() }}) as first_seen_at
    from rejected_rows
    left join seen_before
        on rejected_rows.quarantined_row_id = seen_before.quarantined_row_id
    where seen_before.quarantined_row_id is null

)

select * from final
