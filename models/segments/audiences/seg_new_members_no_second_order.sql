{#- Generated from audiences/new_members_no_second_order.yml by `activate audiences generate`:
    edit the YAML, not this file. -#}
{% set condition %}
    (
        coalesce(is_loyalty_member = true, false)
        and coalesce(paid_order_count = 1, false)
        and coalesce(lifecycle_stage in ('new'), false)
    )
{% endset %}
{{ select_audience('new_members_no_second_order', condition) }}
