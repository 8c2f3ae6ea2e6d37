{#- Digits of a raw phone after folding full-width digits and dropping separators; '*' is kept so
    that masked marketplace phones (138****1234) can be recognised and rejected. -#}
{% macro phone_digits(column) -%}
    {{ regexp_replace_all(
        "translate(trim(" ~ column ~ "), '０１２３４５６７８９＋', '0123456789+')",
        '[^0-9+*]', ''
    ) }}
{%- endmacro %}

{#- The 11-digit mainland mobile without country prefix (+86, 0086 or 86), or the digits as they
    are when no prefix applies. -#}
{% macro phone_without_country_code(column) -%}
    case
        when {{ phone_digits(column) }} like '+86%' then substr({{ phone_digits(column) }}, 4)
        when {{ phone_digits(column) }} like '0086%' then substr({{ phone_digits(column) }}, 5)
        when length({{ phone_digits(column) }}) = 13 and {{ phone_digits(column) }} like '86%'
            then substr({{ phone_digits(column) }}, 3)
        else {{ phone_digits(column) }}
    end
{%- endmacro %}

{#- A valid mainland mobile as 11 digits, else null. -#}
{% macro normalize_phone(column) -%}
    case
        when {{ regexp_full_match(phone_without_country_code(column), '1[3-9][0-9]{9}') }}
            then {{ phone_without_country_code(column) }}
    end
{%- endmacro %}

{#- Why a non-empty raw phone is not an identifier; null when it is one. -#}
{% macro phone_rejection_reason(column) -%}
    case
        when {{ column }} is null or trim({{ column }}) = '' then null
        when {{ phone_digits(column) }} like '%*%' then 'masked'
        when {{ regexp_full_match(phone_without_country_code(column), '1[3-9][0-9]{9}') }} then null
        else 'not_a_mainland_mobile'
    end
{%- endmacro %}
