{#-
    Makes every landing source readable under its dbt source name. DuckDB reads the files in
    place through each source's `external_location`, so there is nothing to do. Other engines
    (Spark) get one external table per landing folder, over the same files; dropping it never
    deletes them. Re-created on every run so that a changed ONEDATA_RAW_DIR is followed.
    Called from on-run-start.
-#}
{% macro register_landing_tables() %}
    {{ return(adapter.dispatch('register_landing_tables', 'onedata')()) }}
{% endmacro %}

{% macro duckdb__register_landing_tables() %}
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
        {% if raw_format == 'csv' %}
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
