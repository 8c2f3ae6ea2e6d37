-- Resolution is complete: the two ends of every edge of the identity graph are in the same
-- component. A truncated or wrong label propagation leaves edges across components.
select
    edges.node_id,
    edges.linked_node_id,
    node_component.component_id as node_component_id,
    linked_component.component_id as linked_component_id
from {{ ref('int_identity_graph_edges') }} as edges
inner join {{ ref('int_identity_components') }} as node_component
    on edges.node_id = node_component.node_id
inner join {{ ref('int_identity_components') }} as linked_component
    on edges.linked_node_id = linked_component.node_id
where node_component.component_id <> linked_component.component_id
