{#- Fails the build when a landing table lost more of its rows to one reason than its error share
    (var onedata__landing_reject_thresholds; by default 5%): an export that broken would leave
    the tags and audiences built from a fraction of the brand. -#}
{{ config(severity='error') }}

select
    landing_table,
    rejection_reason,
    rows_rejected,
    rows_landed,
    rejected_share,
    error_above_share
from {{ ref('landing_quality') }}
where rejected_share > error_above_share
