{#- The code lists of the landing contract (docs/landing-contract.md). A landed row whose code is
    not in its list is quarantined (reason unknown_<what>, see checked_landing_rows); the tags and
    audiences read only these codes. -#}

{#- Sales channels: where orders, stores, coupons and behaviour happen. -#}
{% macro sales_channels() -%}
    {{ return(['tmall', 'jd', 'douyin', 'miniprogram', 'app', 'pos']) }}
{%- endmacro %}

{#- Behaviour event types by the AIPL stage each signals (domain brief, seed 002). Purchase comes
    from orders, not events. -#}
{% macro behavior_event_types_by_stage() -%}
    {{ return({
        'awareness': ['ad_exposure', 'page_view', 'category_search'],
        'interest': [
            'ad_click', 'home_page_visit', 'interaction', 'product_view', 'brand_search',
            'follow', 'add_to_cart', 'favourite',
        ],
        'loyalty': ['review', 'share'],
    }) }}
{%- endmacro %}

{% macro behavior_event_types() -%}
    {%- set event_types = [] -%}
    {%- for stage_event_types in behavior_event_types_by_stage().values() -%}
        {%- do event_types.extend(stage_event_types) -%}
    {%- endfor -%}
    {{ return(event_types) }}
{%- endmacro %}

{#- Identifier types One ID knows (docs/landing-contract.md, "Identifier types"). -#}
{% macro identifier_types() -%}
    {{ return([
        'phone', 'email', 'wechat_unionid', 'wechat_openid', 'buyer_id', 'member_card',
        'app_user_id', 'device_id',
    ]) }}
{%- endmacro %}

{#- Suppression lists name a person by one of these (one_id: a person key onedata issued). -#}
{% macro suppression_identifier_types() -%}
    {{ return(['phone', 'email', 'wechat_unionid', 'one_id']) }}
{%- endmacro %}

{#- A suppression holds on one touch-point channel, or on all of them (null or `all`). -#}
{% macro suppression_channels() -%}
    {{ return(consent_channels() + ['all']) }}
{%- endmacro %}

{#- What destinations report back (activate feedback). -#}
{% macro feedback_event_types() -%}
    {{ return(['delivered', 'failed', 'opened', 'clicked', 'converted', 'unsubscribed']) }}
{%- endmacro %}

{#- A code list by its name, for the sources files (meta.landing.codes). -#}
{% macro landing_code_list(name) -%}
    {%- set lists = {
        'sales_channels': sales_channels,
        'consent_channels': consent_channels,
        'behavior_event_types': behavior_event_types,
        'identifier_types': identifier_types,
        'suppression_identifier_types': suppression_identifier_types,
        'suppression_channels': suppression_channels,
        'feedback_event_types': feedback_event_types,
    } -%}
    {%- if name not in lists -%}
        {{ exceptions.raise_compiler_error(
            "Unknown code list '" ~ name ~ "' in a landing sources file; known: " ~ lists.keys() | join(', ')
        ) }}
    {%- endif -%}
    {{ return(lists[name]()) }}
{%- endmacro %}
