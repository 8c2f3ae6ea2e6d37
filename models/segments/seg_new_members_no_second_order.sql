{#- Loyalty members who bought once in their first month: the second order is the node after which
    members stay (seed 003). -#}
{{ select_audience(
    'new_members_no_second_order',
    "is_loyalty_member and paid_order_count = 1 and lifecycle_stage = 'new'"
) }}
