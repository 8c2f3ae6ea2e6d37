-- A one_id names exactly one person: one component has one one_id, and no one_id spans two
-- components (a fresh id never collides with one in use or retired).
with

identity_one_ids as (

    select * from {{ ref('int_identity_one_ids') }}

),

one_ids_per_component as (

    select
        component_id as key_value,
        'component with several one_ids' as problem
    from identity_one_ids
    group by component_id
    having count(distinct one_id) > 1

),

components_per_one_id as (

    select
        one_id as key_value,
        'one_id on several components' as problem
    from identity_one_ids
    group by one_id
    having count(distinct component_id) > 1

),

final as (

    select * from one_ids_per_component
    union all
    select * from components_per_one_id

)

select * from final
