{#- Per landing table: rows landed, rows that passed the contract, and the latest load time of
    those (the table's loaded_at_field, as `dbt source freshness` reads it from the files) against
    the table's warn and error ages, as of this build. `dbt source freshness` is the check a
    scheduler runs; this is the same answer kept in the warehouse, for the report and for anyone
    who reads the build. Tables with no load time (catalogues, order lines) have a null status. -#}
{%- set hours_per = {'minute': 1.0 / 60, 'hour': 1, 'day': 24} %}
with

measured as (

    {% for table_name, base_model in landing_base_models().items() %}
        {%- set table = landing_table(table_name) if execute else none %}
        {%- set loaded_at = table.loaded_at_field if execute and table.loaded_at_field else none %}
        {%- set freshness = (table.freshness if execute else none) or {} %}
        {%- set warn_after = freshness.get('warn_after') or {} %}
        {%- set error_after = freshness.get('error_after') or {} %}
        select
            '{{ table_name }}' as landing_table,
            count(*) as rows_landed,
            coalesce(sum(case when rejection_reason is null then 1 else 0 end), 0) as rows_accepted,
            {% if loaded_at -%}
                max(case when rejection_reason is null then {{ loaded_at }} end)
            {%- else -%}
                cast(null as {{ dbt.type_timestamp() }})
            {%- endif %} as latest_loaded_at,
            {% if warn_after.get('count') -%}
                {{ warn_after.count * hours_per[warn_after.period] }}
            {%- else -%}
                cast(null as {{ dbt.type_float() }})
            {%- endif %} as warn_after_hours,
            {% if error_after.get('count') -%}
                {{ error_after.count * hours_per[error_after.period] }}
            {%- else -%}
                cast(null as {{ dbt.type_float() }})
            {%- endif %} as error_after_hours
        from {{ ref(base_model) }}
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

build as (

    select
        cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S") }}' as {{ dbt.type_timestamp() }})
            as build_started_at

),

aged as (

    select
        measured.*,
        -- dbt's difference in minutes renders as one long line on DuckDB.
        {{ dbt.datediff('measured.latest_loaded_at', 'build.build_started_at', 'minute') }} / 60.0  -- noqa: LT05
            as hours_since_loaded
    from measured
    cross join build

),

final as (

    select
        landing_table,
        rows_landed,
        rows_accepted,
        latest_loaded_at,
        hours_since_loaded,
        warn_after_hours,
        error_after_hours,
        case
            when warn_after_hours is null and error_after_hours is null then null
            -- No row at all is as stale as the table's strictest age.
            when latest_loaded_at is null and error_after_hours is not null then 'error'
            when latest_loaded_at is null then 'warn'
            when hours_since_loaded > error_after_hours then 'error'
            when hours_since_loaded > warn_after_hours then 'warn'
            else 'pass'
        end as freshness_status
    from aged

)

select * from final
