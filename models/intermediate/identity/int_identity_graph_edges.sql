{#- The identity graph: nodes are source records ('r|system|id') and identifiers
    ('i|type|value'); an edge joins a record to each usable identifier it carries, and two
    identifiers seen together in a link. Blocked identifiers take part in no edge, so they
    cannot join strangers; every record keeps a self-edge so that it is a node even then. -#}
with

identifiers_observed as (

    select * from {{ ref('int_identifiers_observed') }}

),

customer_records as (

    select * from {{ ref('int_customer_records_unioned') }}

),

identifiers_blocked as (

    select distinct
        id_type,
        id_value
    from {{ ref('int_identifiers_blocked') }}

),

usable_identifiers as (

    select identifiers_observed.*
    from identifiers_observed
    left join identifiers_blocked
        on
            identifiers_observed.id_type = identifiers_blocked.id_type
            and identifiers_observed.id_value = identifiers_blocked.id_value
    where
        identifiers_observed.id_value is not null
        and identifiers_blocked.id_value is null

),

record_to_identifier as (

    select
        {{ dbt.concat(["'r|'", 'source_system', "'|'", 'source_record_id']) }} as node_id,
        {{ dbt.concat(["'i|'", 'id_type', "'|'", 'id_value']) }} as linked_node_id
    from usable_identifiers
    where source_record_id is not null

),

record_self_edges as (

    select
        {{ dbt.concat(["'r|'", 'source_system', "'|'", 'source_record_id']) }} as node_id,
        {{ dbt.concat(["'r|'", 'source_system', "'|'", 'source_record_id']) }} as linked_node_id
    from customer_records

),

-- A link counts only when both of its identifiers are usable.
usable_link_sides as (

    select
        link_id,
        count(*) as usable_side_count,
        min({{ dbt.concat(["'i|'", 'id_type', "'|'", 'id_value']) }}) as first_node_id,
        max({{ dbt.concat(["'i|'", 'id_type', "'|'", 'id_value']) }}) as second_node_id
    from usable_identifiers
    where link_id is not null
    group by link_id

),

identifier_to_identifier as (

    select
        first_node_id as node_id,
        second_node_id as linked_node_id
    from usable_link_sides
    where usable_side_count = 2

),

final as (

    select * from record_to_identifier
    union
    select * from record_self_edges
    union
    select * from identifier_to_identifier

)

select * from final
