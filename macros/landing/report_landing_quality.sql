{#- Called from on-run-end: when this run built landing_quality, print one line for every landing
    table and reason over its warning share, with where to look. dbt's own warning names only
    the test; a data team needs the table, the reason and the rows. -#}
{% macro report_landing_quality(results) %}
    {% if not execute %}{{ return('') }}{% endif %}
    {% set built = [] %}
    {% for result in results if result.node.name == 'landing_quality' and result.status == 'success' %}
        {% do built.append(result.node) %}
    {% endfor %}
    {% if not built %}{{ return('') }}{% endif %}
    {% set relation = built[0].relation_name %}
    {% set quarantine = graph.nodes.values() | selectattr('name', 'equalto', 'landing_quarantine') | first %}
    {% set over = run_query(
        "select landing_table, rejection_reason, rows_rejected, rows_landed, rejected_share,"
        ~ " warn_above_share, error_above_share, rows_kept_anyway"
        ~ " from " ~ relation ~ " where rejected_share > warn_above_share"
        ~ " order by rejected_share > error_above_share desc, landing_table, rejection_reason"
    ) %}
    {% for row in over %}
        {% set table_name, reason, rejected, landed, share, warn_share, error_share, kept = row %}
        {% set kept_note = (' (' ~ kept ~ ' kept, as the contract says)') if kept else ' (left out of the build)' %}
        {{ log(
            ('FAIL' if share > error_share else 'WARN') ~ ' landing quality: ' ~ table_name ~ ': '
            ~ rejected ~ ' of ' ~ landed ~ ' rows ' ~ reason ~ kept_note ~ ', '
            ~ '%.4f' | format(share * 100) ~ '% (warns above ' ~ '%g' | format(warn_share * 100)
            ~ '%, fails above ' ~ '%g' | format(error_share * 100) ~ '%). See '
            ~ quarantine.relation_name ~ " where landing_table = '" ~ table_name
            ~ "' and rejection_reason = '" ~ reason ~ "'",
            info=True
        ) }}
    {% endfor %}
    {% if over | length %}
        {{ log(
            'landing quality: correct those rows at the source and land them again (a later file wins '
            ~ 'a repeated key); each reason is explained in docs/landing-contract.md, "What happens to a bad row".',
            info=True
        ) }}
    {% endif %}
    {{ return('') }}
{% endmacro %}
