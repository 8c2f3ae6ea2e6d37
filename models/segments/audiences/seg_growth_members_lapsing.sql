{#- Generated from audiences/growth_members_lapsing.yml by `activate audiences generate`:
    edit the YAML, not this file. -#}
{% set condition %}
    coalesce(is_growth_lapse_warning = true, false)
{% endset %}
{{ select_audience('growth_members_lapsing', condition) }}
