{#- Generated from audiences/new_members.yml by `activate audiences generate`:
    edit the YAML, not this file. -#}
{% set condition %}
    (
        coalesce(is_loyalty_member = true, false)
        and coalesce(member_tenure_days <= 40, false)
    )
{% endset %}
{{ select_audience('new_members', condition) }}
