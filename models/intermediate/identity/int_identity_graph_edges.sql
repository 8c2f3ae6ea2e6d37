{#- The identity graph: nodes are source records ('r|system|id') and identifiers
    ('i|type|value'); an edge joins a record to each usable identifier it carries, and two
    identifiers seen together in a link. Blocked identifiers and the links cut by the per-person
    limits and the same-system conflicts take part in no edge, so they cannot join strangers;
    every record keeps a self-edge so that it is a node even then. A reassigned identifier
    (int_identifier_holders_assigned) is a node per earlier holder ('h|type|value|holder number') for
    the carriers of that holder's eras, so each holder's records stay together and apart from
    the others'; its latest holder keeps 'i|type|value'. -#}
with

identifiers_usable as (

    select * from {{ ref('int_identifiers_usable') }}

),

customer_records as (

    select * from {{ ref('int_customer_records_unioned') }}

),

identity_links_dropped as (

    select * from {{ ref('int_identity_links_dropped') }}

),

identifier_holders as (

    select * from {{ ref('int_identifier_holders_assigned') }}

),

earlier_holdings as (

    select
        carrier_node_id,
        identifier_node_id,
        holder_number
    from identifier_holders
    where is_earlier_holder

),

-- Edges a data steward took out to undo a bad merge (seeds/identity_edge_exclusions.csv): the
-- record keeps its other identifiers and the identifier its other records.
identity_edge_exclusions as (

    select distinct
        {{ dbt.concat(["'r|'", 'source_system', "'|'", 'source_record_id']) }} as carrier_node_id,
        {{ dbt.concat(["'i|'", 'id_type', "'|'", 'id_value']) }} as identifier_node_id
    from {{ ref('identity_edge_exclusions') }}

),

-- Usable identifiers minus the links cut, each at the node of its holder.
usable_identifiers as (

    select
        identifiers_usable.carrier_node_id,
        case
            when earlier_holdings.holder_number is not null
                then {{ dbt.concat([
                    "'h|'",
                    'identifiers_usable.id_type',
                    "'|'",
                    'identifiers_usable.id_value',
                    "'|'",
                    'cast(earlier_holdings.holder_number as ' ~ dbt.type_string() ~ ')',
                ]) }}
            else identifiers_usable.identifier_node_id
        end as identifier_node_id,
        identifiers_usable.identifier_node_id as current_identifier_node_id,
        identifiers_usable.source_record_id,
        identifiers_usable.link_id
    from identifiers_usable
    left join identity_links_dropped
        on
            identifiers_usable.carrier_node_id = identity_links_dropped.carrier_node_id
            and identifiers_usable.identifier_node_id = identity_links_dropped.identifier_node_id
    left join earlier_holdings
        on
            identifiers_usable.carrier_node_id = earlier_holdings.carrier_node_id
            and identifiers_usable.identifier_node_id = earlier_holdings.identifier_node_id
    where identity_links_dropped.carrier_node_id is null

),

record_to_identifier as (

    select
        usable_identifiers.carrier_node_id as node_id,
        usable_identifiers.identifier_node_id as linked_node_id
    from usable_identifiers
    left join identity_edge_exclusions
        on
            usable_identifiers.carrier_node_id = identity_edge_exclusions.carrier_node_id
            and usable_identifiers.current_identifier_node_id = identity_edge_exclusions.identifier_node_id
    where
        usable_identifiers.source_record_id is not null
        and identity_edge_exclusions.carrier_node_id is null

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
        min(identifier_node_id) as first_node_id,
        max(identifier_node_id) as second_node_id
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
