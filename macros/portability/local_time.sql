{#- The brand's clock. Landed timestamps are UTC instants (columns named _at); every date the
    business reasons in (an order's day, a registration day, the as-of date, a month) is the
    date on the brand's own clock (columns named _date or _month), in the time zone var
    onedata__time_zone names (an IANA name such as Asia/Shanghai or Europe/Berlin, so that
    daylight saving is followed). Converted once, here. -#}

{#- The wall-clock time in the brand's zone of a UTC timestamp. -#}
{% macro to_local_timestamp(utc_timestamp) -%}
    {{ return(adapter.dispatch('to_local_timestamp', 'onedata')(utc_timestamp)) }}
{%- endmacro %}

{% macro default__to_local_timestamp(utc_timestamp) -%}
    from_utc_timestamp({{ utc_timestamp }}, '{{ var("onedata__time_zone") }}')
{%- endmacro %}

{% macro duckdb__to_local_timestamp(utc_timestamp) -%}
    timezone('{{ var("onedata__time_zone") }}', cast({{ utc_timestamp }} as timestamp) at time zone 'UTC')
{%- endmacro %}

{#- The brand's calendar date of a UTC timestamp. -#}
{% macro to_local_date(utc_timestamp) -%}
    cast({{ to_local_timestamp(utc_timestamp) }} as date)
{%- endmacro %}

{#- The build's own day on the brand's clock (dbt's run_started_at, in the brand's zone), as a
    Python date for the macros that compare with it. -#}
{% macro build_local_date() -%}
    {{ return(run_started_at.astimezone(modules.pytz.timezone(var('onedata__time_zone'))).date()) }}
{%- endmacro %}
