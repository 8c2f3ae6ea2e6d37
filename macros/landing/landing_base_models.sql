{#- Each landing table and its base_ model (models/staging/<source>/base/), for the models that
    read them all. Written out, not looked up in the graph, because dbt must see every ref()
    while it parses, before the graph exists; a dbt test
    (assert_every_landing_table_has_a_base_model) fails when a landing table is missing here. -#}
{% macro landing_base_models() %}
    {{ return({
        'crm_members': 'base_crm__members',
        'points_transactions': 'base_crm__points_transactions',
        'pos_customers': 'base_pos__customers',
        'marketplace_buyers': 'base_marketplace__buyers',
        'miniprogram_users': 'base_miniprogram__users',
        'app_users': 'base_app__users',
        'identity_links': 'base_identity__links',
        'wecom_external_contacts': 'base_wecom__external_contacts',
        'orders': 'base_commerce__orders',
        'order_lines': 'base_commerce__order_lines',
        'products': 'base_commerce__products',
        'categories': 'base_commerce__categories',
        'stores': 'base_commerce__stores',
        'behavior_events': 'base_behavior__events',
        'coupons_issued': 'base_marketing__coupons_issued',
        'coupons_redeemed': 'base_marketing__coupons_redeemed',
        'marketing_consent': 'base_marketing__consent_events',
        'campaigns': 'base_marketing__campaigns',
        'feedback_events': 'base_marketing__feedback_events',
        'suppression_list': 'base_marketing__suppressions',
    }) }}
{% endmacro %}
