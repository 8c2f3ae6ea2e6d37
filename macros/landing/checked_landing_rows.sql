{#-
    Every row of one landing table, typed as its sources file declares, with the first reason it
    breaks the landing contract (null when it does not). A base_ model is this and nothing else;
    its stg_ model keeps the rows without a reason, and landing_quarantine lists the others.

    The reasons, in the order they are checked (docs/landing-contract.md, "What happens to a bad
    row"):
      unreadable_row            the engine could not parse the row (Spark; DuckDB names why:
                                store_unreadable_landing_rows)
      header_mismatch           a CSV file whose header is not the declared columns in order
      missing_key               a key column is empty
      invalid_number / invalid_date / invalid_timestamp / invalid_boolean
                                a value that does not cast to its column's type
      invalid_utf8              text holding U+FFFD, the mark of bytes that were not UTF-8
      missing_required_value    a required column is empty
      unknown_<code>            a code outside its list (unknown_channel, unknown_status, ...)
      negative_amount / negative_number
      in_the_future             later than the build's clock plus var
                                onedata__landing_future_tolerance_hours (unless may_be_future)
      implausibly_old           before var onedata__landing_earliest_date (or the column's earliest)
      <check reason>            a rule across columns (meta.landing.checks)
      duplicate_key             another row has the same key and wins: the latest updated_at, then
                                the later file, then the later row (meta.landing.duplicate_reason
                                renames it)
    Codes are compared lower-cased and trimmed, as staging normalises them.
-#}
{% macro checked_landing_rows(landing_relation) -%}
    {%- if not execute -%}
        {{ return('select 1 as not_compiled_yet') }}
    {%- endif -%}
    {%- set table = landing_table(landing_relation.identifier) -%}
    {%- set columns = landing_columns(table) -%}
    {%- set rules = table.meta.landing -%}
    {%- set key = rules.get('key', []) -%}
    {%- set is_csv = landing_raw_format() == 'csv' -%}
    {%- set string_type = dbt.type_string() -%}
    {%- set column_names = columns | map(attribute='name') | list -%}
    {%- if not key -%}
        {{ exceptions.raise_compiler_error("Landing table " ~ table.name ~ " declares no meta.landing.key") }}
    {%- endif -%}

    {#- Each rule: the reason, the column it blames, when it fails, the value to keep. -#}
    {%- set checks = [{
        'reason': 'unreadable_row', 'column': none,
        'fails_when': 'landing_corrupt_record is not null', 'value': 'landing_corrupt_record',
    }] -%}
    {%- if is_csv -%}
        {%- do checks.append({
            'reason': 'header_mismatch', 'column': none,
            'fails_when': 'not has_declared_header', 'value': landing_row_text(column_names),
        }) -%}
    {%- endif -%}
    {%- for column in columns if column.name in key -%}
        {%- set landed_text = column.name if column.data_type == 'varchar'
            else 'cast(' ~ column.name ~ '__landed as ' ~ string_type ~ ')' -%}
        {%- do checks.append({
            'reason': 'missing_key', 'column': column.name,
            'fails_when': 'nullif(trim(' ~ landed_text ~ "), '') is null", 'value': 'null',
        }) -%}
    {%- endfor -%}
    {%- for column in columns if column.data_type != 'varchar' -%}
        {%- set landed_text = 'cast(' ~ column.name ~ '__landed as ' ~ string_type ~ ')' -%}
        {%- do checks.append({
            'reason': landing_cast_reason(column.data_type), 'column': column.name,
            'fails_when': column.name ~ ' is null and nullif(trim(' ~ landed_text ~ "), '') is not null",
            'value': landed_text,
        }) -%}
    {%- endfor -%}
    {%- for column in columns if column.data_type == 'varchar' -%}
        {%- do checks.append({
            'reason': 'invalid_utf8', 'column': column.name,
            'fails_when': column.name ~ " like '%\ufffd%'", 'value': column.name,
        }) -%}
    {%- endfor -%}
    {%- for column in columns if column.landing.get('required') -%}
        {%- set is_empty = ('nullif(trim(' ~ column.name ~ "), '') is null") if column.data_type == 'varchar'
            else column.name ~ ' is null' -%}
        {%- do checks.append({
            'reason': 'missing_required_value', 'column': column.name, 'fails_when': is_empty, 'value': 'null',
        }) -%}
    {%- endfor -%}
    {%- for column in columns if column.landing.get('codes') -%}
        {%- set codes = column.landing.codes -%}
        {%- set codes = landing_code_list(codes) if codes is string else codes -%}
        {%- do checks.append({
            'reason': column.landing.get('reason', 'unknown_code'), 'column': column.name,
            'fails_when': 'nullif(trim(' ~ column.name ~ "), '') is not null and lower(trim(" ~ column.name
                ~ ")) not in ('" ~ codes | join("', '") ~ "')",
            'value': column.name,
        }) -%}
    {%- endfor -%}
    {%- for column in columns if column.landing.get('non_negative') -%}
        {%- do checks.append({
            'reason': 'negative_number' if column.data_type == 'integer' else 'negative_amount',
            'column': column.name, 'fails_when': column.name ~ ' < 0',
            'value': 'cast(' ~ column.name ~ ' as ' ~ string_type ~ ')',
        }) -%}
    {%- endfor -%}
    {%- for column in columns if column.data_type in ('date', 'timestamp') -%}
        {%- set as_text = 'cast(' ~ column.name ~ ' as ' ~ string_type ~ ')' -%}
        {%- if not column.landing.get('may_be_future') -%}
            {%- do checks.append({
                'reason': 'in_the_future', 'column': column.name,
                'fails_when': column.name ~ ' > ' ~ landing_latest_allowed(column.data_type), 'value': as_text,
            }) -%}
        {%- endif -%}
        {%- set earliest = column.landing.get('earliest', var('onedata__landing_earliest_date')) -%}
        {%- do checks.append({
            'reason': 'implausibly_old', 'column': column.name,
            'fails_when': column.name ~ " < cast('" ~ earliest ~ "' as date)", 'value': as_text,
        }) -%}
    {%- endfor -%}
    {%- for check in rules.get('checks', []) -%}
        {%- do checks.append({
            'reason': check.reason, 'column': check.column, 'fails_when': check.fails_when,
            'value': 'cast(' ~ check.column ~ ' as ' ~ string_type ~ ')',
        }) -%}
    {%- endfor -%}

with

landed as (

    select * from {{ landing_relation }}

),

typed as (

    select
        landing_file_name,
        landing_row_number,
        landing_corrupt_record,
        {%- if is_csv %}
        -- The header is read as a row (register_landing_tables): the declared column names, in order.
        {% for name in column_names -%}
            lower(trim({{ 'replace(' ~ name ~ ", '\ufeff', '')" if loop.first else name }})) = '{{ name }}'
            {%- if not loop.last %} and {% endif %}
        {%- endfor %} as is_header_row,
        {%- endif %}
        {%- for column in columns %}
        {%- if column.data_type == 'varchar' %}
        cast({{ column.name }} as {{ string_type }}) as {{ column.name }},
        {%- else %}
        {{ column.name }} as {{ column.name }}__landed,
        try_cast({{ column.name }} as {{ landing_type(column.data_type) }}) as {{ column.name }},
        {%- endif %}
        {%- endfor %}
        1 as landed_row
    from landed

),
{%- if is_csv %}

headed as (

    select
        *,
        max(case when is_header_row then 1 else 0 end) over (partition by landing_file_name) = 1
            as has_declared_header
    from typed

),
{%- endif %}

-- The first rule the row breaks, as reason:column, tested once per row.
checked as (

    select
        *,
        case
            {%- for check in checks %}
            when {{ check.fails_when }} then '{{ check.reason }}:{{ check.column or "" }}'
            {%- endfor %}
        end as rejection
    from {{ 'headed' if is_csv else 'typed' }}
    {%- if is_csv %}
    where not is_header_row
    {%- endif %}

),

explained as (

    select
        *,
        {{ dbt.split_part('rejection', "':'", 1) }} as rejection_reason,
        nullif({{ dbt.split_part('rejection', "':'", 2) }}, '') as rejected_column,
        -- The value at fault, for the rejected rows only.
        case
            when rejection is not null then case rejection
                {%- for check in checks %}
                when '{{ check.reason }}:{{ check.column or "" }}' then {{ check.value }}
                {%- endfor %}
            end
        end as rejected_value
    from checked

),

-- One row per key among the rows that passed: the latest update, then the later file and row.
-- Ranking sorts every row, the costliest step of a base_ model; a landing whose keys are all
-- distinct (the usual day) skips it (landing_keys_repeat).
ranked as (

    select
        *,
        {%- if landing_keys_repeat(landing_relation, key, is_csv) %}
        row_number() over (
            partition by rejection_reason is null, {{ key | join(', ') }}
            order by
                {%- if 'updated_at' in column_names %}
                updated_at desc nulls last,
                {%- endif %}
                landing_file_name desc nulls last,
                landing_row_number desc nulls last,
                {% for name in column_names -%}
                    cast({{ name }} as {{ string_type }}) desc nulls last{{ ',' if not loop.last }}
                {%- endfor %}
        ) as key_rank
        {%- else %}
        1 as key_rank
        {%- endif %}
    from explained

),

final as (

    select
        landing_file_name,
        cast(null as {{ dbt.type_bigint() }}) as landing_file_line,
        landing_row_number,
        {%- for name in column_names %}
        {{ name }},
        {%- endfor %}
        case
            when rejection_reason is null and key_rank > 1
                then '{{ rules.get("duplicate_reason", "duplicate_key") }}'
            else rejection_reason
        end as rejection_reason,
        case
            when rejection_reason is null and key_rank > 1 then '{{ key | join(", ") }}'
            else rejected_column
        end as rejected_column,
        case
            when rejection_reason is null and key_rank > 1 then {{ landing_row_text(key, '|') }}
            else rejected_value
        end as rejected_value
    from ranked

)

select * from final
{%- endmacro %}

{#- Whether any key is landed more than once (rows of every reason counted; an empty key or a CSV
    header is not a key): a query on the key columns alone, which Parquet readers read without the
    rest. -#}
{% macro landing_keys_repeat(landing_relation, key, is_csv) %}
    {% set conditions = [] %}
    {% for name in key %}
        {% do conditions.append(name ~ ' is not null') %}
    {% endfor %}
    {% if is_csv %}
        {% do conditions.append(key[0] ~ " <> '" ~ key[0] ~ "'") %}
    {% endif %}
    {% set repeated = run_query(
        'select count(*) from (select 1 from ' ~ landing_relation ~ ' where ' ~ conditions | join(' and ')
        ~ ' group by ' ~ key | join(', ') ~ ' having count(*) > 1 limit 1) as repeated_keys'
    ).columns[0].values()[0] %}
    {{ return(repeated > 0) }}
{% endmacro %}

{#- The reason for a value that does not cast to a landing type. -#}
{% macro landing_cast_reason(data_type) %}
    {% if data_type in ('integer', 'decimal(18,2)') %}{{ return('invalid_number') }}
    {% else %}{{ return('invalid_' ~ data_type) }}
    {% endif %}
{% endmacro %}

{#- The latest moment (or day) a landed value may name: the build's clock plus the tolerance. -#}
{% macro landing_latest_allowed(data_type) %}
    {% set latest = run_started_at + modules.datetime.timedelta(
        hours=var('onedata__landing_future_tolerance_hours') | float
    ) %}
    {% if data_type == 'date' %}
        {#- A landed date is a day on the brand's calendar. -#}
        {% set local_day = latest.astimezone(modules.pytz.timezone(var('onedata__time_zone'))) %}
        {{ return("cast('" ~ local_day.strftime('%Y-%m-%d') ~ "' as date)") }}
    {% endif %}
    {{ return("cast('" ~ latest.strftime('%Y-%m-%d %H:%M:%S') ~ "' as " ~ dbt.type_timestamp() ~ ")") }}
{% endmacro %}

{#- Columns as one line of text, empty for null: what a steward reads of a row. -#}
{% macro landing_row_text(column_names, separator=',') %}
    {% set parts = [] %}
    {% for name in column_names %}
        {% do parts.append("coalesce(cast(" ~ name ~ " as " ~ dbt.type_string() ~ "), '')") %}
    {% endfor %}
    {{ return("concat_ws('" ~ separator ~ "', " ~ parts | join(', ') ~ ")") }}
{% endmacro %}
