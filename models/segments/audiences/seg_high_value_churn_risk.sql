{#- Generated from audiences/high_value_churn_risk.yml by `activate audiences generate`:
    edit the YAML, not this file. -#}
{% set condition %}
    coalesce(is_high_value_lapse_warning = true, false)
{% endset %}
{{ select_audience('high_value_churn_risk', condition) }}
