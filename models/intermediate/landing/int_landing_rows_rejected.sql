{#- Every landed row kept aside by this build, and why: the rows each base_ model rejected
    (checked_landing_rows, and the CSV lines DuckDB could not read) and the references no other
    table resolves (int_landing_references_orphaned). One row per rejected row, with its key, where
    it came from, the value at fault masked (phones and e-mails never appear whole) and an id that
    stays the same from build to build while the row is still landed. -#}
{%- set string_type = dbt.type_string() %}
with

rejected_by_their_table as (

    {% for table_name, base_model in landing_base_models().items() %}
        {%- set table = landing_table(table_name) if execute else none %}
        {%- set pii_columns = (landing_columns(table) if execute else []) | selectattr('pii') | list %}
        {%- set key = table.meta.landing.key if execute else ['rejected_column'] %}
        select
            '{{ table_name }}' as landing_table,
            landing_file_name,
            landing_file_line,
            landing_row_number,
            -- In a file whose header is off, the key column holds whatever came first: no key.
            case
                when rejection_reason <> 'header_mismatch'
                    then nullif({{ landing_row_text(key, '|') }}, '')
            end as row_key,
            rejected_column,
            {% if pii_columns -%}
                case
                    {%- for column in pii_columns %}
                        when rejected_column = '{{ column.name }}' then {{ mask_pii('rejected_value', column.pii) }}
                    {%- endfor %}
                    else {{ mask_pii('rejected_value') }}
                end
            {%- else -%}
                {{ mask_pii('rejected_value') }}
            {%- endif %} as rejected_value,
            rejection_reason,
            false as is_row_kept
        from {{ ref(base_model) }}
        where rejection_reason is not null
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

orphaned as (

    select * from {{ ref('int_landing_references_orphaned') }}

),

unioned as (

    select * from rejected_by_their_table
    union all
    select
        landing_table,
        landing_file_name,
        landing_file_line,
        landing_row_number,
        row_key,
        rejected_column,
        {{ mask_pii('rejected_value') }} as rejected_value,
        rejection_reason,
        is_row_kept
    from orphaned

),

-- A raw CSV line can hold a whole file after a stray quote: a steward needs its start only.
shortened as (

    select
        landing_table,
        landing_file_name,
        landing_file_line,
        landing_row_number,
        row_key,
        rejected_column,
        substr(rejected_value, 1, 500) as rejected_value,
        rejection_reason,
        is_row_kept
    from unioned

),

fingerprinted as (

    select
        *,
        {{ dbt.hash(landing_row_text([
            'landing_table', 'rejection_reason', 'rejected_column', 'landing_file_name',
            'landing_file_line', 'landing_row_number', 'row_key', 'rejected_value',
        ], '|')) }} as row_fingerprint
    from shortened

),

final as (

    select
        -- Two identical rejected rows (the same CSV line landed twice in one file) are two rows.
        {{ dbt.concat([
            'row_fingerprint', "'-'",
            "cast(row_number() over (partition by row_fingerprint order by row_fingerprint) as "
            ~ string_type ~ ")",
        ]) }} as quarantined_row_id,
        landing_table,
        row_key,
        landing_file_name,
        landing_file_line,
        landing_row_number,
        rejected_column,
        rejected_value,
        rejection_reason,
        is_row_kept
    from fingerprinted

)

select * from final
