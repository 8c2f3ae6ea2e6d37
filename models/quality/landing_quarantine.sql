with

rejected_rows as (

    select * from {{ ref('int_landing_rows_rejected') }}

),

first_seen as (

    select * from {{ ref('landing_quarantine_first_seen') }}

),

final as (

    select
        rejected_rows.quarantined_row_id,
        rejected_rows.landing_table,
        rejected_rows.row_key,
        rejected_rows.landing_file_name,
        rejected_rows.rejected_column,
        rejected_rows.rejected_value,
        rejected_rows.rejection_reason,
        rejected_rows.landing_file_line,
        rejected_rows.landing_row_number,
        rejected_rows.is_row_kept,
        first_seen.first_seen_build_id,
        first_seen.first_seen_at
    from rejected_rows
    left join first_seen
        on rejected_rows.quarantined_row_id = first_seen.quarantined_row_id

)

select * from final
