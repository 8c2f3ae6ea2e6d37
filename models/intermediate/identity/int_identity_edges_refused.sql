{#- Every edge the identity graph would have had but for One ID's safeguards, with the safeguard
    that refused it and why: what `activate explain` shows between two records kept apart, and
    what identity_one_id_history gives as the reason an edge was removed. A record's refused link
    is the edge record - identifier; a link's, the edge between its two identifiers (ordered as in
    int_identity_graph_edges). refusal_kind:

    - blocked_identifier: the identifier is blocked (int_identifiers_blocked);
    - over_limit, conflicting_attributes: the link was cut (int_identity_links_dropped);
    - reassigned: the carrier held the identifier before it passed to a new holder
      (int_identifier_holders_assigned); it is joined to its own holding's node instead;
    - excluded: a data steward took the edge out (seeds/identity_edge_exclusions.csv). -#}
with

identifiers_observed as (

    select * from {{ ref('int_identifiers_observed') }}

),

identifiers_blocked as (

    select * from {{ ref('int_identifiers_blocked') }}

),

identity_links_dropped as (

    select * from {{ ref('int_identity_links_dropped') }}

),

identifier_holders as (

    select * from {{ ref('int_identifier_holders_assigned') }}

),

identity_edge_exclusions as (

    select * from {{ ref('identity_edge_exclusions') }}

),

observations as (

    select
        case
            when source_record_id is not null
                then {{ dbt.concat(["'r|'", 'source_system', "'|'", 'source_record_id']) }}
            else {{ dbt.concat(["'l|'", 'link_id']) }}
        end as carrier_node_id,
        {{ dbt.concat(["'i|'", 'id_type', "'|'", 'id_value']) }} as identifier_node_id,
        link_id,
        id_type,
        id_value
    from identifiers_observed
    where id_value is not null

),

block_reasons as (

    select
        id_type,
        id_value,
        min({{ dbt.concat(['block_reason', "': '", 'block_detail']) }}) as refusal_reason
    from identifiers_blocked
    group by id_type, id_value

),

refused_observations as (

    select
        observations.carrier_node_id,
        observations.identifier_node_id,
        observations.link_id,
        'blocked_identifier' as refusal_kind,
        block_reasons.refusal_reason
    from observations
    inner join block_reasons
        on
            observations.id_type = block_reasons.id_type
            and observations.id_value = block_reasons.id_value

    union all

    select
        carrier_node_id,
        identifier_node_id,
        link_id,
        drop_rule as refusal_kind,
        drop_reason as refusal_reason
    from identity_links_dropped

    union all

    select
        carrier_node_id,
        identifier_node_id,
        link_id,
        'reassigned' as refusal_kind,
        reassignment_evidence as refusal_reason
    from identifier_holders
    where is_earlier_holder

    union all

    select
        {{ dbt.concat(["'r|'", 'source_system', "'|'", 'source_record_id']) }} as carrier_node_id,
        {{ dbt.concat(["'i|'", 'id_type', "'|'", 'id_value']) }} as identifier_node_id,
        cast(null as {{ dbt.type_string() }}) as link_id,
        'excluded' as refusal_kind,
        {{ dbt.concat(["'excluded by a data steward: '", 'reason']) }} as refusal_reason
    from identity_edge_exclusions

),

refused_edges as (

    select
        carrier_node_id as node_id,
        identifier_node_id as linked_node_id,
        refusal_kind,
        refusal_reason
    from refused_observations
    where link_id is null

    union all

    select
        least(refused_observations.identifier_node_id, other_sides.identifier_node_id) as node_id,
        greatest(refused_observations.identifier_node_id, other_sides.identifier_node_id) as linked_node_id,
        refused_observations.refusal_kind,
        refused_observations.refusal_reason
    from refused_observations
    inner join observations as other_sides
        on
            refused_observations.carrier_node_id = other_sides.carrier_node_id
            and refused_observations.identifier_node_id <> other_sides.identifier_node_id
    where refused_observations.link_id is not null

),

final as (

    select
        node_id,
        linked_node_id,
        refusal_kind,
        min(refusal_reason) as refusal_reason
    from refused_edges
    group by node_id, linked_node_id, refusal_kind

)

select * from final
