with

source as (

    select * from {{ source('identity', 'identity_links') }}

),

renamed as (

    select
        cast(link_id as {{ dbt.type_string() }}) as link_id,
        lower(trim(source_system)) as source_system,

        lower(trim(left_id_type)) as left_id_type,
        {{ normalize_identifier('lower(trim(left_id_type))', 'left_id_value', 'left_id_namespace') }}
            as left_id_value,
        cast(left_id_value as {{ dbt.type_string() }}) as left_id_value_raw,
        cast(left_id_namespace as {{ dbt.type_string() }}) as left_id_namespace,

        lower(trim(right_id_type)) as right_id_type,
        {{ normalize_identifier('lower(trim(right_id_type))', 'right_id_value', 'right_id_namespace') }}
            as right_id_value,
        cast(right_id_value as {{ dbt.type_string() }}) as right_id_value_raw,
        cast(right_id_namespace as {{ dbt.type_string() }}) as right_id_namespace,

        cast(observed_at as {{ dbt.type_timestamp() }}) as observed_at

    from source

)

select * from renamed
