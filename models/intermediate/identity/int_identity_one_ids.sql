{#- Each current source record with its component and the one_id the registry holds for it (its
    latest row, appended by this build when the id changed). -#}
with

identity_components as (

    select * from {{ ref('int_identity_components') }}

),

identity_one_id_registry as (

    select * from {{ ref('int_identity_one_id_registry') }}

),

ranked_registry_rows as (

    select
        source_record_key,
        one_id,
        one_id_first_assigned_at,
        assigned_at,
        row_number() over (partition by source_record_key order by assigned_at desc) as recency_rank
    from identity_one_id_registry

),

final as (

    select
        substr(identity_components.node_id, 3) as source_record_key,
        ranked_registry_rows.one_id,
        identity_components.node_id,
        identity_components.component_id,
        ranked_registry_rows.one_id_first_assigned_at,
        ranked_registry_rows.assigned_at
    from identity_components
    inner join ranked_registry_rows
        on
            substr(identity_components.node_id, 3) = ranked_registry_rows.source_record_key
            and ranked_registry_rows.recency_rank = 1
    where identity_components.node_id like 'r|%'

)

select * from final
