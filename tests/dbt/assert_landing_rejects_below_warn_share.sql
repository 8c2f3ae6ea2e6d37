{#- Warns when a landing table lost more of its rows to one reason than its warning share (var
    onedata__landing_reject_thresholds; by default any row). The build goes on: the rows are in
    landing_quarantine, and the build's last lines name each table and reason. -#}
{{ config(severity='warn') }}

select
    landing_table,
    rejection_reason,
    rows_rejected,
    rows_landed,
    rejected_share,
    warn_above_share
from {{ ref('landing_quality') }}
where rejected_share > warn_above_share
