-- One ID loses no customer: every source record of every system has exactly one one_id.
select
    records.source_system,
    records.source_record_id
from {{ ref('int_customer_records_unioned') }} as records
left join {{ ref('dim_source_records') }} as resolved
    on
        records.source_system = resolved.source_system
        and records.source_record_id = resolved.source_record_id
where resolved.one_id is null
