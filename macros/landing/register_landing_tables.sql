{#-
    Makes every landing table readable as landing.<table>, on every engine, at the start of every
    run (so that a changed ONEDATA_RAW_DIR is followed). Called from on-run-start.

    Each is a view with the table's declared columns (models/staging/*/_*__sources.yml), in the
    declared order, whatever the files hold, plus where each row came from:
      landing_file_name       the file
      landing_row_number      the row's position in a Parquet file (1 = first); null for CSV
      landing_corrupt_record  the raw line of a CSV row the engine could not read (Spark; DuckDB
                              keeps those aside instead: store_unreadable_landing_rows)

    The files are read tolerantly, so that one bad row cannot stop the build:
    - CSV: every column as text, the dialect fixed by the landing contract (comma, double quotes,
      UTF-8), no sniffing (one stray quote made DuckDB's sniffer give up on a whole file), and the
      header read as a row: checked_landing_rows matches it against the declared columns, file by
      file, so that a file whose columns are in another order is quarantined, not misread.
    - Parquet: by column name across files; a declared column that no file has is null, so its
      rows fail their checks instead of the build.
    A folder with no files fails the run with the folder's name, except for an optional table
    (meta.landing.optional, such as the suppression list), which is then empty.
-#}
{% macro register_landing_tables() %}
    {{ return(adapter.dispatch('register_landing_tables', 'onedata')()) }}
{% endmacro %}

{% macro duckdb__register_landing_tables() %}
    {% if not execute %}{{ return('') }}{% endif %}
    {% set raw_dir = var('onedata__raw_dir') %}
    {% set raw_format = landing_raw_format() %}
    {% do run_query('create schema if not exists landing') %}
    {% for table in landing_tables() %}
        {% set columns = landing_columns(table) %}
        {% set pattern = (raw_dir ~ '/' ~ table.name ~ '/*.' ~ raw_format) | replace("'", "''") %}
        {% set found = run_query("select count(*) from glob('" ~ pattern ~ "')").columns[0].values()[0] %}
        {% set selected = [] %}
        {% if found == 0 %}
            {% do require_optional_landing_table(table, raw_dir, raw_format) %}
            {% for column in columns %}
                {% do selected.append('cast(null as ' ~ landing_type(column.data_type) ~ ') as ' ~ column.name) %}
            {% endfor %}
            {% set reader = '(select 1 as no_file where 1 = 0)' %}
            {% set file_name, row_number = 'cast(null as varchar)', 'cast(null as bigint)' %}
        {% elif raw_format == 'csv' %}
            {% set declared = [] %}
            {% for column in columns %}
                {% do declared.append("'" ~ column.name ~ "': 'VARCHAR'") %}
                {% do selected.append(column.name) %}
            {% endfor %}
            {% set reader = "read_csv('" ~ pattern ~ "', header = false, auto_detect = false, columns = {"
                ~ declared | join(', ') ~ "}, delim = ',', quote = '\"', escape = '\"', filename = true, "
                ~ "store_rejects = true, rejects_table = '" ~ landing_rejects_table(table.name)
                ~ "', rejects_scan = '" ~ landing_rejects_scan(table.name) ~ "')" %}
            {% set file_name, row_number = 'filename', 'cast(null as bigint)' %}
        {% else %}
            {% set present = run_query(
                "describe select * from read_parquet('" ~ pattern ~ "', union_by_name = true)"
            ).columns[0].values() %}
            {% for column in columns %}
                {% do selected.append(column.name if column.name in present
                    else 'cast(null as ' ~ landing_type(column.data_type) ~ ') as ' ~ column.name) %}
            {% endfor %}
            {% set reader = "read_parquet('" ~ pattern ~ "', union_by_name = true, filename = true, file_row_number = true)" %}
            {% set file_name, row_number = 'filename', 'file_row_number + 1' %}
        {% endif %}
        {% do run_query(
            'create or replace view landing.' ~ table.name ~ ' as select ' ~ selected | join(', ')
            ~ ', ' ~ file_name ~ ' as landing_file_name, ' ~ row_number ~ ' as landing_row_number'
            ~ ', cast(null as varchar) as landing_corrupt_record from ' ~ reader ~ ' as landed'
        ) %}
    {% endfor %}
{% endmacro %}

{% macro default__register_landing_tables() %}
    {% if not execute %}{{ return('') }}{% endif %}
    {% set raw_dir = var('onedata__raw_dir') %}
    {% set raw_format = landing_raw_format() %}
    {% do run_query('create schema if not exists landing') %}
    {% for table in landing_tables() %}
        {% set columns = landing_columns(table) %}
        {% set files = 'landing.' ~ table.name ~ '__files' %}
        {% set folder = raw_dir ~ '/' ~ table.name %}
        {% do run_query('drop view if exists landing.' ~ table.name) %}
        {% do run_query('drop table if exists ' ~ files) %}
        {% set selected = [] %}
        {% if raw_format == 'csv' %}
            {#- The folder, not a glob: Spark reads a missing or empty folder as no rows when the
                schema is given. PERMISSIVE keeps a row it cannot parse, whole, in the corrupt
                record column; multiLine lets a quoted value span lines, as in DuckDB. -#}
            {% set declared = [] %}
            {% for column in columns %}
                {% do declared.append(column.name ~ ' string') %}
                {% do selected.append(column.name) %}
            {% endfor %}
            {% do run_query(
                "create table " ~ files ~ " (" ~ declared | join(', ') ~ ", landing_corrupt_record string)"
                ~ " using csv options (header 'false', quote '\"', escape '\"', multiLine 'true', mode 'PERMISSIVE',"
                ~ " columnNameOfCorruptRecord 'landing_corrupt_record', path '" ~ folder
                ~ "', pathGlobFilter '*.csv')"
            ) %}
            {% set corrupt_record = 'landing_corrupt_record' %}
        {% else %}
            {% if table.meta.landing.get('optional') %}
                {% set declared = [] %}
                {% for column in columns %}
                    {% do declared.append(column.name ~ ' ' ~ landing_type(column.data_type)) %}
                {% endfor %}
                {% do run_query(
                    "create table " ~ files ~ " (" ~ declared | join(', ') ~ ") using parquet options (path '"
                    ~ folder ~ "', pathGlobFilter '*.parquet')"
                ) %}
            {% else %}
                {% do run_query(
                    "create table " ~ files ~ " using parquet options (path '" ~ folder
                    ~ "/*.parquet', mergeSchema 'true')"
                ) %}
            {% endif %}
            {% set present = [] %}
            {% for row in run_query('describe ' ~ files) %}
                {% do present.append(row[0]) %}
            {% endfor %}
            {% for column in columns %}
                {% do selected.append(column.name if column.name in present
                    else 'cast(null as ' ~ landing_type(column.data_type) ~ ') as ' ~ column.name) %}
            {% endfor %}
            {% set corrupt_record = 'cast(null as string)' %}
        {% endif %}
        {% do run_query(
            'create view landing.' ~ table.name ~ ' as select ' ~ selected | join(', ')
            ~ ', input_file_name() as landing_file_name, cast(null as bigint) as landing_row_number, '
            ~ corrupt_record ~ ' as landing_corrupt_record from ' ~ files
        ) %}
    {% endfor %}
{% endmacro %}

{#- ONEDATA_RAW_FORMAT, checked: a typo must not read nothing. -#}
{% macro landing_raw_format() %}
    {% set raw_format = var('onedata__raw_format') %}
    {% if raw_format not in ('parquet', 'csv') %}
        {{ exceptions.raise_compiler_error(
            "ONEDATA_RAW_FORMAT must be parquet or csv, got '" ~ raw_format ~ "'"
        ) }}
    {% endif %}
    {{ return(raw_format) }}
{% endmacro %}

{% macro require_optional_landing_table(table, raw_dir, raw_format) %}
    {% if not table.meta.landing.get('optional') %}
        {{ exceptions.raise_compiler_error(
            "The landing folder " ~ raw_dir ~ "/" ~ table.name ~ " has no ." ~ raw_format ~ " file. Every "
            ~ "table of docs/landing-contract.md needs at least one, even with no rows (a CSV with only "
            ~ "its header, an empty Parquet file with its schema). Set ONEDATA_RAW_DIR and "
            ~ "ONEDATA_RAW_FORMAT to where and how the brand lands its files."
        ) }}
    {% endif %}
{% endmacro %}

{#- DuckDB keeps the CSV rows it cannot read in these temporary tables of the connection that read
    them (store_unreadable_landing_rows moves them into the base model). -#}
{% macro landing_rejects_table(table_name) %}
    {{ return('landing_rejects__' ~ table_name) }}
{% endmacro %}

{% macro landing_rejects_scan(table_name) %}
    {{ return('landing_scans__' ~ table_name) }}
{% endmacro %}
