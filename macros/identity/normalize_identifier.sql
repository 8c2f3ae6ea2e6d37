{#-
    Normalised form of any identifier, by id type (docs/landing-contract.md, "Identifier types").
    Openids and buyer ids only mean something inside their app or platform, so the namespace is
    part of the value. Returns null when the raw value is not a usable identifier.
-#}
{% macro normalize_identifier(id_type, id_value, id_namespace) -%}
    case {{ id_type }}
        when 'phone' then {{ normalize_phone(id_value) }}
        when 'email' then {{ normalize_email(id_value) }}
        when 'wechat_unionid' then nullif(trim({{ id_value }}), '')
        when 'wechat_openid' then
            case
                when nullif(trim({{ id_value }}), '') is not null and nullif(trim({{ id_namespace }}), '') is not null
                    then trim({{ id_namespace }}) || ':' || trim({{ id_value }})
            end
        when 'buyer_id' then
            case
                when nullif(trim({{ id_value }}), '') is not null and nullif(trim({{ id_namespace }}), '') is not null
                    then lower(trim({{ id_namespace }})) || ':' || trim({{ id_value }})
            end
        when 'member_card' then
            nullif(upper({{ regexp_replace_all(id_value, '[^0-9A-Za-z]', '') }}), '')
        when 'app_user_id' then nullif(trim({{ id_value }}), '')
        when 'wecom_external_userid' then nullif(trim({{ id_value }}), '')
        when 'device_id' then
            case
                when not {{ regexp_full_match("lower(trim(" ~ id_value ~ "))", '[0\\-]*') }}
                    then lower(trim({{ id_value }}))
            end
    end
{%- endmacro %}

{#- Why a non-empty raw identifier could not be used; null when it could. -#}
{% macro identifier_rejection_reason(id_type, id_value, id_namespace) -%}
    case
        when {{ id_value }} is null or trim({{ id_value }}) = '' then null
        when {{ id_type }} = 'phone' then {{ phone_rejection_reason(id_value) }}
        when {{ id_type }} = 'email' then {{ email_rejection_reason(id_value) }}
        when {{ id_type }} not in (
            'wechat_unionid', 'wechat_openid', 'buyer_id', 'member_card', 'app_user_id', 'device_id',
            'wecom_external_userid'
        ) then 'unknown_id_type'
        when {{ normalize_identifier(id_type, id_value, id_namespace) }} is null
            then case
                when {{ id_type }} in ('wechat_openid', 'buyer_id') then 'missing_namespace'
                when {{ id_type }} = 'device_id' then 'placeholder_device_id'
                else 'empty_after_cleaning'
            end
    end
{%- endmacro %}
