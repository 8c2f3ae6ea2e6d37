{#- Per landing table and reason: how many rows were landed, how many were kept aside, and the
    shares above which the build warns and fails (var onedata__landing_reject_thresholds: the
    most specific of <table>.<reason>, <table> and default). The tests
    assert_landing_rejects_below_warn_share and assert_landing_rejects_below_error_share read it,
    and the build prints every line over its warning share (report_landing_quality). -#}
{%- set thresholds = var('onedata__landing_reject_thresholds') %}
with

quarantine as (

    select * from {{ ref('landing_quarantine') }}

),

landed as (

    {% for table_name, base_model in landing_base_models().items() %}
        select
            '{{ table_name }}' as landing_table,
            count(*) as rows_landed
        from {{ ref(base_model) }}
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

rejected as (

    select
        landing_table,
        rejection_reason,
        count(*) as rows_rejected,
        sum(case when is_row_kept then 1 else 0 end) as rows_kept_anyway
    from quarantine
    group by landing_table, rejection_reason

),

measured as (

    select
        rejected.landing_table,
        rejected.rejection_reason,
        -- Orphan references are counted against the rows of the table that holds them.
        coalesce(landed.rows_landed, 0) as rows_landed,
        rejected.rows_rejected,
        rejected.rows_kept_anyway,
        cast(rejected.rows_rejected as double) / nullif(landed.rows_landed, 0) as rejected_share
    from rejected
    left join landed
        on rejected.landing_table = landed.landing_table

),

final as (

    select
        landing_table,
        rejection_reason,
        rows_landed,
        rows_rejected,
        rows_kept_anyway,
        coalesce(rejected_share, 1) as rejected_share,
        {%- for bound in ('warn_above', 'error_above') %}
            {%- set scoped = [] %}
            {%- for scope, limits in thresholds.items() if '.' in scope and bound in limits %}
                {%- do scoped.append(
                    "when landing_table || '.' || rejection_reason = '" ~ scope ~ "' then " ~ limits[bound]
                ) %}
            {%- endfor %}
            {%- for scope, limits in thresholds.items()
                if scope != 'default' and '.' not in scope and bound in limits %}
                {%- do scoped.append("when landing_table = '" ~ scope ~ "' then " ~ limits[bound]) %}
            {%- endfor %}
            {%- if scoped %}
                case {{ scoped | join(' ') }} else {{ thresholds.default[bound] }} end
            {%- else %}
                {{ thresholds.default[bound] }}
            {%- endif %} as {{ bound }}_share
            {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from measured

)

select * from final
