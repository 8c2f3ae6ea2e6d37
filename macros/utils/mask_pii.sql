{#- A text with phones and e-mails masked, for tables people read and share (landing_quarantine).
    kind: 'phone' or 'identifier' (a value that may be a phone or any id: its first three and
    last four characters kept), 'email' (the local part hidden), or 'text' (free text, such as a
    raw CSV line: every mainland mobile, with or without +86, spaces, dashes or full-width digits,
    and every e-mail address in it masked). No backslashes in the patterns: Spark's SQL
    literals would read them as escapes, DuckDB's would not. -#}
{% macro mask_pii(expression, kind='text') -%}
    {%- if kind in ('phone', 'identifier') -%}
        case
            when length({{ expression }}) > 7
                then concat(left({{ expression }}, 3), '****', right({{ expression }}, 4))
            when {{ expression }} is not null then '****'
        end
    {%- elif kind == 'email' -%}
        {{ regexp_replace_all(expression, '[^@ ,;"]+@', '***@') }}
    {%- else -%}
        {{ regexp_replace_all(
            regexp_replace_all(expression, '[^@ ,;"]+@', '***@'),
            '[+＋]?([8８][6６][ -]?)?[1１][3-9３-９]([ -]?[0-9０-９]){9}',
            '[masked phone]'
        ) }}
    {%- endif -%}
{%- endmacro %}
