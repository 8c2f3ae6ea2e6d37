{#-
    The golden record: one row per person (one_id). Each attribute survives from the most trusted
    source that has it (source_priority: CRM, app, mini program, POS, marketplace), then from the
    most recently updated record; the *_source columns say which system it came from.
-#}
{%- set survivorship_attributes = ['display_name', 'phone', 'email', 'wechat_unionid', 'wechat_openid',
    'app_device_id', 'member_card_no', 'gender', 'birth_date', 'province', 'city', 'member_level',
    'registration_channel', 'points_balance'] -%}
{%- set sourced_attributes = ['display_name', 'phone', 'email'] -%}
{%- set touch_channels = consent_channels() -%}
with

customer_records as (

    select * from {{ ref('int_customer_records_unioned') }}

),

source_records as (

    select * from {{ ref('dim_source_records') }}

),

member_consent as (

    select * from {{ ref('int_member_consent_pivoted') }}

),

ranked_records as (

    select
        source_records.one_id,
        customer_records.*,
        row_number() over (
            partition by source_records.one_id
            order by
                customer_records.source_priority asc,
                customer_records.updated_at desc,
                customer_records.source_record_id asc
        ) as survivorship_rank
    from customer_records
    inner join source_records
        on
            customer_records.source_system = source_records.source_system
            and customer_records.source_record_id = source_records.source_record_id

),

survived as (

    select
        one_id,
        {% for attribute in survivorship_attributes %}
            min_by({{ attribute }}, survivorship_rank) filter (
                where {{ attribute }} is not null{% if attribute == 'gender' %} and {{ attribute }} <> 'U'{% endif %}
            ) as {{ attribute }},
        {% endfor %}
        {% for attribute in sourced_attributes %}
            min_by(source_system, survivorship_rank) filter (where {{ attribute }} is not null)
                as {{ attribute }}_source,
        {% endfor %}
        count(*) as source_record_count,
        count(distinct source_system) as source_system_count,
        bool_or(is_loyalty_member) as is_loyalty_member,
        bool_or(is_paid_member) as is_paid_member,
        min(registered_at) as first_seen_at,
        min(case when is_loyalty_member then registered_at end) as registered_at,
        max(updated_at) as last_updated_at
    from ranked_records
    group by one_id

),

final as (

    select
        survived.one_id,
        {% for attribute in survivorship_attributes %}
            {% if attribute == 'gender' %}
                coalesce(survived.gender, 'U') as gender,
            {% else %}
                survived.{{ attribute }},
            {% endif %}
        {% endfor %}
        {% for attribute in sourced_attributes %}
            survived.{{ attribute }}_source,
        {% endfor %}
        survived.source_record_count,
        survived.source_system_count,
        survived.is_loyalty_member,
        survived.is_paid_member,
        {% for channel in touch_channels %}
            coalesce(member_consent.is_{{ channel }}_consented, false) as is_{{ channel }}_consented,
        {% endfor %}
        survived.first_seen_at,
        survived.registered_at,
        survived.last_updated_at
    from survived
    left join member_consent
        on survived.one_id = member_consent.one_id

)

select * from final
