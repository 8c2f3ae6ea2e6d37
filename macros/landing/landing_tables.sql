{#- The landing tables: every dbt source table whose meta declares `landing` (the sources files
    beside the staging models). Each is one folder of files in the landing directory. -#}
{% macro landing_tables() %}
    {% set tables = [] %}
    {% for node in graph.sources.values() if node.meta.get('landing') is not none %}
        {% do tables.append(node) %}
    {% endfor %}
    {{ return(tables | sort(attribute='name')) }}
{% endmacro %}

{#- The declaration of one landing table, by its name (its folder). -#}
{% macro landing_table(table_name) %}
    {% for node in landing_tables() if node.name == table_name %}
        {{ return(node) }}
    {% endfor %}
    {{ exceptions.raise_compiler_error(
        "No landing source declares the table " ~ table_name ~ " (meta.landing in models/staging/*/_*__sources.yml)"
    ) }}
{% endmacro %}

{#- A landing table's columns in declared order: {name, data_type, landing: its rules, pii}. -#}
{% macro landing_columns(table) %}
    {% set columns = [] %}
    {% for column in table.columns.values() %}
        {% if not column.data_type %}
            {{ exceptions.raise_compiler_error(
                "Landing column " ~ table.name ~ "." ~ column.name ~ " declares no data_type"
            ) }}
        {% endif %}
        {% do columns.append({
            'name': column.name,
            'data_type': column.data_type | lower | replace(' ', ''),
            'landing': column.meta.get('landing', {}),
            'pii': column.meta.get('pii'),
        }) %}
    {% endfor %}
    {% if not columns %}
        {{ exceptions.raise_compiler_error("Landing table " ~ table.name ~ " declares no columns") }}
    {% endif %}
    {{ return(columns) }}
{% endmacro %}

{#- The engine's type for a landing contract type (varchar, integer, decimal(18,2), date,
    timestamp, boolean). -#}
{% macro landing_type(data_type) %}
    {% if data_type == 'varchar' %}{{ return(dbt.type_string()) }}
    {% elif data_type == 'integer' %}{{ return(dbt.type_int()) }}
    {% elif data_type == 'timestamp' %}{{ return(dbt.type_timestamp()) }}
    {% elif data_type == 'boolean' %}{{ return(dbt.type_boolean()) }}
    {% elif data_type in ('date', 'decimal(18,2)') %}{{ return(data_type) }}
    {% else %}
        {{ exceptions.raise_compiler_error("Unknown landing data_type " ~ data_type) }}
    {% endif %}
{% endmacro %}
