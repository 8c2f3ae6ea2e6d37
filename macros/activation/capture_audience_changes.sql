{#-
    Change capture for audience tables, so that a sync plans only the members a build changed
    instead of comparing the whole audience with what each destination holds.

    A post-hook on the audience models (dbt_project.yml). When dbt rebuilds a table it keeps the
    previous build as <name>__dbt_backup until the end of the transaction; the hook compares the
    two builds row by row (joined on one_id) and records:
    - activation.audience_changes: one row per member added, removed or changed (a 64-bit hash of
      every column but as_of_date), with the member's row in the new build (DuckDB's rowid; a
      table dbt has just built is never updated in place, so it stays put), so that a sync reads
      those rows without searching the whole table for them;
    - activation.audience_captures: the capture, and the capture the previous build carried;
    - a table comment `onedata capture <id>` on the new build, which is how a sync knows that the
      table it reads is the one the capture describes.
    Captures older than the build the least recent sync read are dropped.

    A build made any other way (a first build, a build in place, a column change, a raw CREATE
    OR REPLACE) leaves no link to the previous capture, and the next sync compares everything.
    An UPDATE made in place outside dbt keeps the comment and is not seen: `activate sync
    --full-diff` compares everything. Spark: no-op (the activation CLI runs on DuckDB).
-#}
{% macro capture_audience_changes() %}
    {{ return(adapter.dispatch('capture_audience_changes', 'onedata')()) }}
{% endmacro %}

{% macro default__capture_audience_changes() %}
    {{ return('') }}
{% endmacro %}

{% macro duckdb__capture_audience_changes() %}
    {% if execute and config.get('materialized') == 'table' %}
        {% set previous = load_cached_relation(make_backup_relation(this, 'table')) %}
        {% do record_audience_changes(
            this.schema ~ '.' ~ this.identifier,
            previous.schema ~ '.' ~ previous.identifier if previous is not none else none,
            invocation_id ~ ':' ~ this.identifier
        ) %}
    {% endif %}
    {{ return('') }}
{% endmacro %}

{#- Also callable on its own, for an audience table built outside dbt (previous_table: the build
    it replaced, still present; capture_id: optional):
    dbt run-operation record_audience_changes --args '{audience_table: s.t, previous_table: s.t_old}' -#}
{% macro record_audience_changes(audience_table, previous_table=none, capture_id=none) %}
    {% for table in [audience_table, previous_table] if table and table.split('.') | length != 2 %}
        {% do exceptions.raise_compiler_error(
            "record_audience_changes takes tables as schema.table, got '" ~ table ~ "'") %}
    {% endfor %}
    {% set kept = var('onedata__audience_captures_kept', 100) %}
    {% if kept is not number or kept < 1 %}
        {% do exceptions.raise_compiler_error(
            "onedata__audience_captures_kept must be a whole number of builds, 1 or more; got '"
            ~ kept ~ "'") %}
    {% endif %}
    {% set activation_schema = var('onedata__activation_schema', 'activation') %}
    {% set capture_id = capture_id or (invocation_id ~ ':' ~ audience_table) %}
    {% set audience_schema, audience_name = audience_table.split('.') %}
    {% set comparable = false %}
    {% if previous_table %}
        {% set previous_schema, previous_name = previous_table.split('.') %}
        {% set column_query %}
            select
                schema_name,
                table_name,
                string_agg(column_name || ' ' || data_type, ', ' order by column_index) as shape,
                string_agg('"' || column_name || '"', ', ' order by column_index)
                    filter (where column_name <> 'as_of_date') as compared_columns
            from duckdb_columns()
            where schema_name = '{{ audience_schema }}' and table_name = '{{ audience_name }}'
                or schema_name = '{{ previous_schema }}' and table_name = '{{ previous_name }}'
            group by all
        {% endset %}
        {% set shapes = run_query(column_query).rows %}
        {#- Same columns, same types: otherwise every row differs and the link is dropped. -#}
        {% set comparable = shapes | length == 2 and shapes[0][2] == shapes[1][2] %}
    {% endif %}
    {% if comparable %}
        {#- Every column but as_of_date, which a daily build changes on every row and which is
            never sent (a journey's window reads it, and a journey compares every member). -#}
        {% set row_hash = "hash(" ~ shapes[0][3] ~ ")" %}
        {% do run_query(
            "insert into " ~ activation_schema ~ ".audience_changes (
                audience_table, capture_id, one_id, change_type, row_id
            )
            select
                '" ~ audience_table ~ "', '" ~ capture_id ~ "', coalesce(built.one_id, previous.one_id),
                case
                    when previous.one_id is null then 'added'
                    when built.one_id is null then 'removed'
                    else 'changed'
                end,
                built.row_id
            from (
                select one_id, rowid as row_id, " ~ row_hash ~ " as row_hash from " ~ audience_table ~ "
            ) as built
            full join (
                select one_id, " ~ row_hash ~ " as row_hash from " ~ previous_table ~ "
            ) as previous
                on built.one_id = previous.one_id
            where built.row_hash is distinct from previous.row_hash"
        ) %}
    {% endif %}
    {% set previous_capture %}
        {%- if comparable -%}
            (
                select nullif(regexp_extract(comment, '^onedata capture (.+)$', 1), '')
                from duckdb_tables()
                where schema_name = '{{ previous_schema }}' and table_name = '{{ previous_name }}'
            )
        {%- else -%}
            null
        {%- endif -%}
    {% endset %}
    {% do run_query(
        "insert into " ~ activation_schema ~ ".audience_captures
        select '" ~ audience_table ~ "', '" ~ capture_id ~ "', " ~ previous_capture ~ ",
            (select count(*) from " ~ activation_schema ~ ".audience_changes
             where audience_table = '" ~ audience_table ~ "' and capture_id = '" ~ capture_id ~ "'),
            (select coalesce(max(capture_number), 0) + 1 from " ~ activation_schema ~ ".audience_captures
             where audience_table = '" ~ audience_table ~ "'),
            cast(now() as timestamp)"
    ) %}
    {% do run_query("comment on table " ~ audience_table ~ " is 'onedata capture " ~ capture_id ~ "'") %}
    {#- A sync needs the captures after the build it last read: those up to the build the least
        recent sync read are dropped (all but this one when no sync has read one), and any older
        than the last `onedata__audience_captures_kept` builds. A sync whose chain lost a
        capture compares every member. -#}
    {% set cutoff_query %}
        select greatest(
            coalesce(
                min(case when baselines.capture_id is not null then captures.capture_number end),
                max(captures.capture_number)
            ),
            max(captures.capture_number) - {{ kept | int }}
        )
        from {{ activation_schema }}.audience_captures as captures
        left join {{ activation_schema }}.sync_baselines as baselines
            on captures.capture_id = baselines.capture_id
        where captures.audience_table = '{{ audience_table }}'
    {% endset %}
    {% set cutoff = run_query(cutoff_query).rows[0][0] %}
    {#- The changes up to the cutoff go, and their captures are marked so (changed_count null):
        a sync whose chain runs through one compares every member. The capture at the cutoff
        stays, the end of the chain of the sync that read it. -#}
    {% set before_cutoff %}
        select capture_id from {{ activation_schema }}.audience_captures
        where audience_table = '{{ audience_table }}' and capture_id <> '{{ capture_id }}'
            and capture_number <= {{ cutoff | int }}
    {% endset %}
    {% do run_query(
        "delete from " ~ activation_schema ~ ".audience_changes
        where audience_table = '" ~ audience_table ~ "' and capture_id in (" ~ before_cutoff ~ ")"
    ) %}
    {% do run_query(
        "update " ~ activation_schema ~ ".audience_captures set changed_count = null
        where audience_table = '" ~ audience_table ~ "' and capture_id in (" ~ before_cutoff ~ ")"
    ) %}
    {% do run_query(
        "delete from " ~ activation_schema ~ ".audience_captures
        where audience_table = '" ~ audience_table ~ "' and capture_id <> '" ~ capture_id ~ "'
            and capture_number < " ~ cutoff | int
    ) %}
{% endmacro %}
