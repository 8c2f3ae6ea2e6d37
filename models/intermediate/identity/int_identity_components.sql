{#- One row per graph node with its connected component; see macros/identity/connected_components.sql. -#}
{{ config(materialized='connected_components') }}

select
    node_id,
    linked_node_id
from {{ ref('int_identity_graph_edges') }}
