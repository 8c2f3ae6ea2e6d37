{% macro email_candidate(column) -%}
    lower(trim({{ column }}))
{%- endmacro %}

{#- Trimmed, lower-case e-mail when it looks like local@domain.tld, else null. -#}
{% macro normalize_email(column) -%}
    case
        when {{ regexp_full_match(email_candidate(column), "[a-z0-9._%+\\-]+@[a-z0-9\\-]+(\\.[a-z0-9\\-]+)*\\.[a-z]{2,}") }}
            then {{ email_candidate(column) }}
    end
{%- endmacro %}

{% macro email_rejection_reason(column) -%}
    case
        when {{ column }} is null or trim({{ column }}) = '' then null
        when {{ normalize_email(column) }} is null then 'invalid_email'
    end
{%- endmacro %}
