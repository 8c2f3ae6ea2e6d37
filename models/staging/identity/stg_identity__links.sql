with

-- The rows that meet the landing contract; the others are in landing_quarantine.
landed as (

    select * from {{ ref('base_identity__links') }}
    where rejection_reason is null

),

renamed as (

    select
        link_id,
        lower(trim(source_system)) as source_system,

        lower(trim(left_id_type)) as left_id_type,
        {{ normalize_identifier('lower(trim(left_id_type))', 'left_id_value', 'left_id_namespace') }}
            as left_id_value,
        left_id_value as left_id_value_raw,
        left_id_namespace,

        lower(trim(right_id_type)) as right_id_type,
        {{ normalize_identifier('lower(trim(right_id_type))', 'right_id_value', 'right_id_namespace') }}
            as right_id_value,
        right_id_value as right_id_value_raw,
        right_id_namespace,

        observed_at

    from landed

)

select * from renamed
