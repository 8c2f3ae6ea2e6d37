{#- High-value members 15+ days without a purchase (seed 003): recall them before they lapse. -#}
{{ select_audience('high_value_churn_risk', 'is_high_value_lapse_warning') }}
