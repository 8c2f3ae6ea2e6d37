{#-
    Makes every landing source readable under its dbt source name. DuckDB reads the files in
    place through each source's `external_location`, so there is nothing to do but for optional
    tables (below). Other engines (Spark) get one external table per landing folder, over the same
    files; dropping it never deletes them. Re-created on every run so that a changed
    ONEDATA_RAW_DIR is followed. Called from on-run-start.

    An optional landing table (meta `landing_optional`, columns declared with their data_type, such
    as the suppression list) may have a missing or empty folder: a brand with nothing to land yet
    must still build. It becomes `landing.<table>` on every engine, empty with its declared columns
    when there are no files. In CSV mode every column is text, as the landing contract says.
-#}
{% macro register_landing_tables() %}
    {{ return(adapter.dispatch('register_landing_tables', 'onedata')()) }}
{% endmacro %}

{#- (name, type) of each declared column of an optional landing source. -#}
{% macro landing_table_columns(source) %}
    {% set columns = [] %}
    {% for column in source.columns.values() %}
        {% set column_type = 'string' if var('onedata__raw_format') == 'csv' else column.data_type %}
        {% do columns.append((column.name, column_type or 'string')) %}
    {% endfor %}
    {% if not columns %}
        {{ exceptions.raise_compiler_error(
            "Optional landing table " ~ source.name ~ " declares no columns: list them with their data_type"
        ) }}
    {% endif %}
    {{ return(columns) }}
{% endmacro %}

{% macro duckdb__register_landing_tables() %}
    {% if not execute %}{{ return('') }}{% endif %}
    {% set raw_dir = var('onedata__raw_dir') %}
    {% set raw_format = var('onedata__raw_format') %}
    {% for source in graph.sources.values() if source.meta.get('landing_optional') %}
        {% set table = source.schema ~ '.' ~ source.name %}
        {% set pattern = raw_dir ~ '/' ~ source.name ~ '/*.' ~ raw_format %}
        {% set found = run_query("select count(*) from glob('" ~ pattern ~ "')").columns[0].values()[0] %}
        {% do run_query('create schema if not exists ' ~ source.schema) %}
        {% if found == 0 %}
            {% set typed_nulls = [] %}
            {% for name, column_type in landing_table_columns(source) %}
                {% do typed_nulls.append('cast(null as ' ~ column_type ~ ') as ' ~ name) %}
            {% endfor %}
            {% set reader = '(select ' ~ typed_nulls | join(', ') ~ ' where 1 = 0)' %}
        {% elif raw_format == 'csv' %}
            {# The same readers as the sources' external_location (models/staging/__sources.yml). #}
            {% set reader = "read_csv('" ~ pattern ~ "', header = true, all_varchar = true, union_by_name = true)" %}
        {% else %}
            {% set reader = "read_parquet('" ~ pattern ~ "', union_by_name = true)" %}
        {% endif %}
        {% do run_query('create or replace view ' ~ table ~ ' as select * from ' ~ reader ~ ' as landed') %}
    {% endfor %}
{% endmacro %}

{% macro default__register_landing_tables() %}
    {% if not execute %}{{ return('') }}{% endif %}
    {% set raw_dir = var('onedata__raw_dir') %}
    {% set raw_format = env_var('ONEDATA_RAW_FORMAT', 'parquet') %}
    {% set statements = [] %}
    {% for source in graph.sources.values() if source.source_meta.get('external_location') or source.meta.get('external_location') %}
        {% set table = source.schema ~ '.' ~ source.name %}
        {% if loop.first %}
            {% do statements.append('create schema if not exists ' ~ source.schema) %}
        {% endif %}
        {% do statements.append('drop table if exists ' ~ table) %}
        {% if source.meta.get('landing_optional') %}
            {#- The folder itself, not a glob: Spark reads a missing or empty folder as no rows
                when the schema is given, but fails on a glob that matches nothing. -#}
            {% set columns = [] %}
            {% for name, column_type in landing_table_columns(source) %}
                {% do columns.append(name ~ ' ' ~ column_type) %}
            {% endfor %}
            {% set options = "header 'true', " if raw_format == 'csv' else '' %}
            {% do statements.append(
                "create table " ~ table ~ " (" ~ columns | join(', ') ~ ") using " ~ raw_format
                ~ " options (" ~ options ~ "path '" ~ raw_dir ~ "/" ~ source.name
                ~ "', pathGlobFilter '*." ~ raw_format ~ "')"
            ) %}
        {% elif raw_format == 'csv' %}
            {% do statements.append(
                "create table " ~ table ~ " using csv options (header 'true', path '"
                ~ raw_dir ~ "/" ~ source.name ~ "/*.csv')"
            ) %}
        {% else %}
            {% do statements.append(
                "create table " ~ table ~ " using parquet options (path '"
                ~ raw_dir ~ "/" ~ source.name ~ "/*.parquet', mergeSchema 'true')"
            ) %}
        {% endif %}
    {% endfor %}
    {% for statement in statements %}
        {% do run_query(statement) %}
    {% endfor %}
{% endmacro %}
