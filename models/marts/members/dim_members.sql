{#-
    The golden record: one row per person (one_id). Each attribute survives by its own rule
    (var onedata__survivorship_rules): trusted_then_recent takes the value of the most trusted
    source that has one (var onedata__survivorship_source_priority), then of the most recently
    updated record; most_recent takes the latest non-null value. The *_source column beside each
    attribute says which source system the surviving value came from. A phone that was reassigned
    to someone else after this person held it (int_identifier_holders_assigned) is not theirs any more:
    it never survives, so no message for them reaches the new holder.
-#}
{%- set survivorship_attributes = ['display_name', 'phone', 'email', 'wechat_unionid', 'wechat_openid',
    'app_device_id', 'member_card_no', 'gender', 'birth_date', 'province', 'city', 'member_level',
    'registration_channel', 'points_balance'] -%}
{%- set rules = var('onedata__survivorship_rules') -%}
{%- for attribute, rule in rules.items() if rule not in ['trusted_then_recent', 'most_recent'] -%}
    {{ exceptions.raise_compiler_error(
        "var onedata__survivorship_rules: '" ~ attribute ~ "' has the rule '" ~ rule
        ~ "'; the rules are trusted_then_recent and most_recent"
    ) }}
{%- endfor -%}
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

identifier_holders as (

    select * from {{ ref('int_identifier_holders_assigned') }}

),

reassigned_phones as (

    select distinct
        source_system,
        source_record_id
    from identifier_holders
    where id_type = 'phone' and is_earlier_holder and source_record_id is not null

),

ranked_records as (

    select
        source_records.one_id,
        customer_records.*,
        reassigned_phones.source_record_id is not null as is_phone_reassigned,
        row_number() over (
            partition by source_records.one_id
            order by
                customer_records.source_priority asc,
                customer_records.updated_at desc,
                customer_records.source_record_id asc
        ) as trusted_then_recent_rank,
        row_number() over (
            partition by source_records.one_id
            order by
                customer_records.updated_at desc,
                customer_records.source_priority asc,
                customer_records.source_record_id asc
        ) as most_recent_rank
    from customer_records
    inner join source_records
        on
            customer_records.source_system = source_records.source_system
            and customer_records.source_record_id = source_records.source_record_id
    left join reassigned_phones
        on
            customer_records.source_system = reassigned_phones.source_system
            and customer_records.source_record_id = reassigned_phones.source_record_id

),

survived as (

    select
        one_id,
        {% for attribute in survivorship_attributes %}
            {%- set rank = rules.get(attribute, rules.default) ~ '_rank' %}
            {%- set has_value = attribute ~ ' is not null'
                ~ (" and gender <> 'U'" if attribute == 'gender' else '')
                ~ (' and not is_phone_reassigned' if attribute == 'phone' else '') %}
            min_by({{ attribute }}, {{ rank }}) filter (where {{ has_value }}) as {{ attribute }},
            min_by(source_system, {{ rank }}) filter (where {{ has_value }}) as {{ attribute }}_source,
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
        {{ to_local_date('survived.registered_at') }} as registered_date,
        survived.last_updated_at
    from survived
    left join member_consent
        on survived.one_id = member_consent.one_id

)

select * from final
