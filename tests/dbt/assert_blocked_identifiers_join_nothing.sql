-- No blocked identifier (blocklist, store phone, shared) may take part in any edge of the graph.
select
    edges.node_id,
    edges.linked_node_id
from {{ ref('int_identity_graph_edges') }} as edges
inner join {{ ref('int_identifiers_blocked') }} as blocked
    on
        edges.linked_node_id = {{ dbt.concat(["'i|'", 'blocked.id_type', "'|'", 'blocked.id_value']) }}
        or edges.node_id = {{ dbt.concat(["'i|'", 'blocked.id_type', "'|'", 'blocked.id_value']) }}
