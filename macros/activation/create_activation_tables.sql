{#
    The activation CLI records what it sends in these tables. dbt owns their DDL so that the
    campaign review can be built before the first sync, and so that there is one definition.
    Called from on-run-start; every statement is idempotent. sync_runs: one row per run, with the
    audience's size as the run read it and, for a run the sync guardrails stopped (run_status
    `refused`) or one an operator let go on past them, what tripped (guardrail_message).
    sync_pending_batches holds the batches sent whose answer is not recorded yet (one row per
    batch: its members and their record fingerprints as JSON arrays, and the records exactly as they
    were sent, packed by activation/state.py): the next sync resends them as they were, under the same key, and plans with
    their members as held by the destination. A row is deleted once its batch is answered.

    audience_captures and audience_changes: which members each build of an audience table changed
    (macros/activation/capture_audience_changes.sql). sync_baselines and sync_outcomes: what the
    last completed sync of an audience to a destination decided for the members it did not send,
    so that the next sync plans only the members that changed since (activation/sync_plan.py).
#}
{% macro create_activation_tables() %}
    {% set activation_schema = var('onedata__activation_schema', 'activation') %}
    {% set statements = [
        "create schema if not exists " ~ activation_schema,
        "create table if not exists " ~ activation_schema ~ ".sync_runs (
            sync_run_id " ~ dbt.type_string() ~ ",
            audience_name " ~ dbt.type_string() ~ ",
            destination_name " ~ dbt.type_string() ~ ",
            campaign_id " ~ dbt.type_string() ~ ",
            sync_mode " ~ dbt.type_string() ~ ",
            audience_version " ~ dbt.type_string() ~ ",
            is_dry_run " ~ dbt.type_boolean() ~ ",
            run_status " ~ dbt.type_string() ~ ",
            guardrail_message " ~ dbt.type_string() ~ ",
            audience_count " ~ dbt.type_int() ~ ",
            added_count " ~ dbt.type_int() ~ ",
            removed_count " ~ dbt.type_int() ~ ",
            unchanged_count " ~ dbt.type_int() ~ ",
            held_out_count " ~ dbt.type_int() ~ ",
            suppressed_count " ~ dbt.type_int() ~ ",
            rejected_count " ~ dbt.type_int() ~ ",
            capped_count " ~ dbt.type_int() ~ ",
            started_at " ~ dbt.type_timestamp() ~ ",
            finished_at " ~ dbt.type_timestamp() ~ "
        )",
        "create table if not exists " ~ activation_schema ~ ".sync_state (
            audience_name " ~ dbt.type_string() ~ ",
            destination_name " ~ dbt.type_string() ~ ",
            one_id " ~ dbt.type_string() ~ ",
            record_fingerprint " ~ dbt.type_string() ~ ",
            sync_run_id " ~ dbt.type_string() ~ ",
            synced_at " ~ dbt.type_timestamp() ~ "
        )",
        "create table if not exists " ~ activation_schema ~ ".campaign_assignments (
            campaign_id " ~ dbt.type_string() ~ ",
            one_id " ~ dbt.type_string() ~ ",
            audience_name " ~ dbt.type_string() ~ ",
            destination_name " ~ dbt.type_string() ~ ",
            assignment_group " ~ dbt.type_string() ~ ",
            variant " ~ dbt.type_string() ~ ",
            holdout_scope " ~ dbt.type_string() ~ ",
            sync_run_id " ~ dbt.type_string() ~ ",
            assigned_at " ~ dbt.type_timestamp() ~ "
        )",
        "create table if not exists " ~ activation_schema ~ ".sync_ledger (
            sync_run_id " ~ dbt.type_string() ~ ",
            campaign_id " ~ dbt.type_string() ~ ",
            audience_name " ~ dbt.type_string() ~ ",
            destination_name " ~ dbt.type_string() ~ ",
            channel " ~ dbt.type_string() ~ ",
            sync_mode " ~ dbt.type_string() ~ ",
            audience_version " ~ dbt.type_string() ~ ",
            variant " ~ dbt.type_string() ~ ",
            one_id " ~ dbt.type_string() ~ ",
            operation " ~ dbt.type_string() ~ ",
            send_status " ~ dbt.type_string() ~ ",
            batch_number " ~ dbt.type_int() ~ ",
            idempotency_key " ~ dbt.type_string() ~ ",
            payload_fingerprint " ~ dbt.type_string() ~ ",
            error_message " ~ dbt.type_string() ~ ",
            destination_reference " ~ dbt.type_string() ~ ",
            unit_cost " ~ dbt.type_numeric() ~ ",
            recorded_at " ~ dbt.type_timestamp() ~ "
        )",
        "create table if not exists " ~ activation_schema ~ ".sync_pending_batches (
            audience_name " ~ dbt.type_string() ~ ",
            destination_name " ~ dbt.type_string() ~ ",
            campaign_id " ~ dbt.type_string() ~ ",
            operation " ~ dbt.type_string() ~ ",
            idempotency_key " ~ dbt.type_string() ~ ",
            variant " ~ dbt.type_string() ~ ",
            one_ids " ~ dbt.type_string() ~ ",
            record_fingerprints " ~ dbt.type_string() ~ ",
            records " ~ dbt.type_string() ~ ",
            sync_run_id " ~ dbt.type_string() ~ ",
            recorded_at " ~ dbt.type_timestamp() ~ "
        )",
        "create table if not exists " ~ activation_schema ~ ".audience_captures (
            audience_table " ~ dbt.type_string() ~ ",
            capture_id " ~ dbt.type_string() ~ ",
            previous_capture_id " ~ dbt.type_string() ~ ",
            changed_count " ~ dbt.type_int() ~ ",
            capture_number " ~ dbt.type_int() ~ ",
            captured_at " ~ dbt.type_timestamp() ~ "
        )",
        "create table if not exists " ~ activation_schema ~ ".audience_changes (
            audience_table " ~ dbt.type_string() ~ ",
            capture_id " ~ dbt.type_string() ~ ",
            one_id " ~ dbt.type_string() ~ ",
            change_type " ~ dbt.type_string() ~ ",
            row_id " ~ dbt.type_bigint() ~ "
        )",
        "create table if not exists " ~ activation_schema ~ ".sync_baselines (
            audience_name " ~ dbt.type_string() ~ ",
            destination_name " ~ dbt.type_string() ~ ",
            sync_run_id " ~ dbt.type_string() ~ ",
            plan_key " ~ dbt.type_string() ~ ",
            capture_id " ~ dbt.type_string() ~ ",
            recorded_at " ~ dbt.type_timestamp() ~ "
        )",
        "create table if not exists " ~ activation_schema ~ ".sync_outcomes (
            audience_name " ~ dbt.type_string() ~ ",
            destination_name " ~ dbt.type_string() ~ ",
            one_id " ~ dbt.type_string() ~ ",
            outcome " ~ dbt.type_string() ~ ",
            ineligible_reason " ~ dbt.type_string() ~ "
        )",
    ] %}
    {% for statement in statements %}
        {% do run_query(statement) %}
    {% endfor %}
    {% do adapter.dispatch('add_activation_columns')(activation_schema) %}
{% endmacro %}

{#- Columns added after the first release: a warehouse created earlier keeps its sync state and
    gains them (null for old rows). Spark tables are created with them; no upgrade path there. -#}
{% macro default__add_activation_columns(activation_schema) %}
{% endmacro %}

{% macro duckdb__add_activation_columns(activation_schema) %}
    {% set added_columns = {
        'sync_runs': [('sync_mode', dbt.type_string()), ('audience_version', dbt.type_string()),
                      ('capped_count', dbt.type_int()), ('audience_count', dbt.type_int()),
                      ('guardrail_message', dbt.type_string())],
        'campaign_assignments': [('variant', dbt.type_string()), ('holdout_scope', dbt.type_string())],
        'sync_ledger': [('channel', dbt.type_string()), ('sync_mode', dbt.type_string()),
                        ('audience_version', dbt.type_string()), ('variant', dbt.type_string()),
                        ('destination_reference', dbt.type_string()), ('unit_cost', dbt.type_numeric())],
        'audience_changes': [('change_type', dbt.type_string()), ('row_id', dbt.type_bigint())],
        'sync_pending_batches': [('variant', dbt.type_string()), ('record_fingerprints', dbt.type_string()),
                                 ('records', dbt.type_string())],
    } %}
    {% for table_name, columns in added_columns.items() %}
        {% for column_name, column_type in columns %}
            {% do run_query(
                "alter table " ~ activation_schema ~ "." ~ table_name
                ~ " add column if not exists " ~ column_name ~ " " ~ column_type
            ) %}
        {% endfor %}
    {% endfor %}
{% endmacro %}
