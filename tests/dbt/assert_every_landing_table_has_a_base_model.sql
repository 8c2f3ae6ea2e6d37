{#- Every landing table declared in a sources file has its base_ model listed in
    landing_base_models, so that landing_quarantine and landing_quality see its rows. -#}
-- depends_on: {{ ref('landing_quality') }}
{%- set missing = [] %}
{%- if execute %}
    {%- for table in landing_tables() if table.name not in landing_base_models() %}
        {%- do missing.append(table.name) %}
    {%- endfor %}
{%- endif %}
{% for table_name in missing %}
select '{{ table_name }}' as landing_table_without_base_model
union all
{% endfor %}
select cast(null as {{ dbt.type_string() }}) as landing_table_without_base_model
where 1 = 0
