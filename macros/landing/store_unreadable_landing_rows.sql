{#- A post-hook of every base_ model: the CSV rows DuckDB could not read become rows of the model,
    with the file, the line, the reason and the raw line, so that landing_quarantine lists them.
    DuckDB skips them while it reads (store_rejects) and keeps them in temporary tables of the
    connection that read them, which is the model's own: they are read here, in the same
    connection, and dropped. Spark keeps such a row in the stream instead
    (landing_corrupt_record), so there is nothing to do there; nor for Parquet, which is read
    whole or not at all. -#}
{% macro store_unreadable_landing_rows(table_name) %}
    {{ return(adapter.dispatch('store_unreadable_landing_rows', 'onedata')(table_name)) }}
{% endmacro %}

{% macro default__store_unreadable_landing_rows(table_name) %}
    {{ return('') }}
{% endmacro %}

{% macro duckdb__store_unreadable_landing_rows(table_name) %}
    {% if not execute or landing_raw_format() != 'csv' %}{{ return('') }}{% endif %}
    {% set errors_table = landing_rejects_table(table_name) %}
    {% set scans_table = landing_rejects_scan(table_name) %}
    {% set stored = run_query(
        "select count(*) from duckdb_tables() where temporary and table_name in ('"
        ~ errors_table ~ "', '" ~ scans_table ~ "')"
    ).columns[0].values()[0] %}
    {#- No temporary tables: the folder had no file to read. -#}
    {% if stored < 2 %}{{ return('') }}{% endif %}
    {% set sql %}
        -- One row per unreadable line, however many errors DuckDB found on it.
        insert into {{ this }} by name
        select
            scans.file_path as landing_file_name,
            errors.line as landing_file_line,
            case min(errors.error_type)
                when 'MISSING COLUMNS' then 'wrong_field_count'
                when 'TOO MANY COLUMNS' then 'wrong_field_count'
                when 'UNQUOTED VALUE' then 'bad_quoting'
                when 'INVALID ENCODING' then 'invalid_utf8'
                when 'LINE SIZE OVER MAXIMUM' then 'line_too_long'
                else 'unreadable_row'
            end as rejection_reason,
            -- The column is DuckDB's guess where the line went wrong: telling for an encoding
            -- error, misleading for a line with too few or too many fields.
            case
                when min(errors.error_type) = 'INVALID ENCODING' then min(errors.column_name)
            end as rejected_column,
            min(errors.csv_line) as rejected_value
        from {{ errors_table }} as errors
        inner join {{ scans_table }} as scans
            on errors.scan_id = scans.scan_id and errors.file_id = scans.file_id
        group by scans.file_path, errors.line;
        drop table {{ errors_table }};
        drop table {{ scans_table }};
    {% endset %}
    {{ return(sql) }}
{% endmacro %}
