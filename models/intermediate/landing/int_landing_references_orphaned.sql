{#- Landed rows that pass their own table's checks but name something no other table has:
    - an order line whose order is not among the orders (missing, or quarantined itself): the
      line is left out, as fct_order_lines keeps only lines of known orders (orphan_order_line);
    - an order, a behaviour event or a consent event naming a customer record (source_system,
      source_record_id) that no customer table has: the row is kept, as anonymous (an order
      counts in channel sales and in no member's tags; an event or a consent in no member's),
      and listed here (unknown_customer_record). -#}
{%- set referencing = [
    ('orders', 'orders', 'order_id', 'customer_source_system', 'customer_source_record_id'),
    ('behavior_events', 'behavior_events', 'event_id', 'source_system', 'source_record_id'),
    ('marketing_consent', 'consent_events', 'consent_event_id', 'source_system', 'source_record_id'),
] %}
with

orders as (

    select * from {{ ref('base_commerce__orders') }}
    where rejection_reason is null

),

order_lines as (

    select * from {{ ref('base_commerce__order_lines') }}
    where rejection_reason is null

),

behavior_events as (

    select * from {{ ref('base_behavior__events') }}
    where rejection_reason is null

),

consent_events as (

    select * from {{ ref('base_marketing__consent_events') }}
    where rejection_reason is null

),

customer_records as (

    select distinct
        source_system,
        source_record_id
    from {{ ref('int_customer_records_unioned') }}

),

lines_without_their_order as (

    select
        'order_lines' as landing_table,
        order_lines.landing_file_name,
        order_lines.landing_file_line,
        order_lines.landing_row_number,
        {{ dbt.concat(["order_lines.order_id", "'|'", "cast(order_lines.line_number as " ~ dbt.type_string() ~ ")"]) }}
            as row_key,
        'order_id' as rejected_column,
        order_lines.order_id as rejected_value,
        'orphan_order_line' as rejection_reason,
        false as is_row_kept
    from order_lines
    left join orders
        on order_lines.order_id = orders.order_id
    where orders.order_id is null

),

naming_unknown_customers as (

    {% for landing_table, relation, key, system_column, record_column in referencing %}
        select
            '{{ landing_table }}' as landing_table,
            {{ relation }}.landing_file_name,
            {{ relation }}.landing_file_line,
            {{ relation }}.landing_row_number,
            {{ relation }}.{{ key }} as row_key,
            '{{ record_column }}' as rejected_column,
            {{ dbt.concat([relation ~ "." ~ system_column, "':'", relation ~ "." ~ record_column]) }}
                as rejected_value,
            'unknown_customer_record' as rejection_reason,
            true as is_row_kept
        from {{ relation }}
        left join customer_records
            on
                lower(trim({{ relation }}.{{ system_column }})) = customer_records.source_system
                and {{ relation }}.{{ record_column }} = customer_records.source_record_id
        where
            {{ relation }}.{{ record_column }} is not null
            and customer_records.source_record_id is null
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

final as (

    select * from lines_without_their_order
    union all
    select * from naming_unknown_customers

)

select * from final
