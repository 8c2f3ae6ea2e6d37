{#- Every identifier column of every customer record, as (type, normalised value, raw value).
    One block per (staging model, id type, column); namespaced ids carry their namespace column.
    Links (two identifiers seen together, no customer record) come from identity_links and from
    WeCom external contacts (an external_userid with its unionid).
    observed_at is the last time the carrier was seen with it (a record's last update, a link's
    observation); first_observed_at the first (the record's registration, first visit to a till or
    first order; the link's observation): the carrier's active period, for time-aware One ID. -#}
{%- set registration_columns = {
    'stg_crm__members': 'registered_at',
    'stg_pos__customers': 'first_seen_at',
    'stg_marketplace__buyers': 'first_order_at',
    'stg_miniprogram__users': 'registered_at',
    'stg_app__users': 'registered_at',
} -%}
{%- set record_identifiers = [
    {'model': 'stg_crm__members', 'id_type': 'member_card', 'column': 'member_card_no'},
    {'model': 'stg_crm__members', 'id_type': 'phone', 'column': 'phone'},
    {'model': 'stg_crm__members', 'id_type': 'email', 'column': 'email'},
    {'model': 'stg_crm__members', 'id_type': 'wechat_unionid', 'column': 'wechat_unionid'},
    {'model': 'stg_pos__customers', 'id_type': 'phone', 'column': 'phone'},
    {'model': 'stg_pos__customers', 'id_type': 'member_card', 'column': 'member_card_no'},
    {'model': 'stg_marketplace__buyers', 'id_type': 'buyer_id', 'column': 'buyer_id', 'namespace': 'platform'},
    {'model': 'stg_marketplace__buyers', 'id_type': 'phone', 'column': 'phone'},
    {'model': 'stg_miniprogram__users', 'id_type': 'wechat_openid', 'column': 'wechat_openid', 'namespace': 'app_id'},
    {'model': 'stg_miniprogram__users', 'id_type': 'wechat_unionid', 'column': 'wechat_unionid'},
    {'model': 'stg_miniprogram__users', 'id_type': 'phone', 'column': 'phone'},
    {'model': 'stg_app__users', 'id_type': 'app_user_id', 'column': 'app_user_id'},
    {'model': 'stg_app__users', 'id_type': 'device_id', 'column': 'device_id'},
    {'model': 'stg_app__users', 'id_type': 'phone', 'column': 'phone'},
    {'model': 'stg_app__users', 'id_type': 'email', 'column': 'email'},
    {'model': 'stg_app__users', 'id_type': 'wechat_unionid', 'column': 'wechat_unionid'},
] -%}

with

{% for identifier in record_identifiers %}
    {{ identifier.model }}__{{ identifier.column }} as (

        select
            source_system,
            source_record_id,
            cast(null as {{ dbt.type_string() }}) as link_id,
            '{{ identifier.id_type }}' as id_type,
            {{ identifier.column }} as id_value,
            {{ identifier.column }}_raw as id_value_raw,
            {{ identifier_rejection_reason(
                "'" ~ identifier.id_type ~ "'",
                identifier.column ~ '_raw',
                identifier.get('namespace', 'null')
            ) }} as rejection_reason,
            coalesce({{ registration_columns[identifier.model] }}, updated_at) as first_observed_at,
            updated_at as observed_at

        from {{ ref(identifier.model) }}
        where nullif(trim({{ identifier.column }}_raw), '') is not null

    ),
{% endfor %}

{% for side in ['left', 'right'] %}
    link_{{ side }}_identifiers as (

        select
            source_system,
            cast(null as {{ dbt.type_string() }}) as source_record_id,
            link_id,
            {{ side }}_id_type as id_type,
            {{ side }}_id_value as id_value,
            {{ side }}_id_value_raw as id_value_raw,
            {{ identifier_rejection_reason(side ~ '_id_type', side ~ '_id_value_raw', side ~ '_id_namespace') }}
                as rejection_reason,
            observed_at as first_observed_at,
            observed_at

        from {{ ref('stg_identity__links') }}
        where nullif(trim({{ side }}_id_value_raw), '') is not null

    ),
{% endfor %}

{% for id_type, column in [('wecom_external_userid', 'external_userid'), ('wechat_unionid', 'wechat_unionid')] %}
    wecom_contact_{{ id_type }}s as (

        select
            'wecom' as source_system,
            cast(null as {{ dbt.type_string() }}) as source_record_id,
            'wecom:' || external_userid as link_id,
            '{{ id_type }}' as id_type,
            {{ column }} as id_value,
            {{ 'external_userid' if column == 'external_userid' else 'wechat_unionid_raw' }} as id_value_raw,
            {{ identifier_rejection_reason(
                "'" ~ id_type ~ "'",
                'external_userid' if column == 'external_userid' else 'wechat_unionid_raw',
                'null'
            ) }} as rejection_reason,
            min(added_at) as first_observed_at,
            max(added_at) as observed_at

        from {{ ref('stg_wecom__external_contacts') }}
        -- A contact links its two identifiers: without a unionid there is nothing to link.
        where nullif(trim(wechat_unionid_raw), '') is not null
        -- A contact followed by several staff members is one link, seen from the first staff
        -- member who added it to the last.
        group by external_userid, wechat_unionid, wechat_unionid_raw

    ),
{% endfor %}

unioned as (

    {% for identifier in record_identifiers %}
        select * from {{ identifier.model }}__{{ identifier.column }}
        union all
    {% endfor %}
    select * from link_left_identifiers
    union all
    select * from link_right_identifiers
    union all
    select * from wecom_contact_wecom_external_userids
    union all
    select * from wecom_contact_wechat_unionids

)

select * from unioned
