-- A member assigned to a campaign's holdout is never sent anything for that campaign: otherwise
-- the holdout is no baseline and the measured uplift is wrong.
select
    sends.campaign_id,
    sends.one_id
from {{ ref('fct_campaign_sends') }} as sends
inner join {{ ref('stg_activation__campaign_assignments') }} as assignments
    on
        sends.campaign_id = assignments.campaign_id
        and sends.one_id = assignments.one_id
where assignments.is_holdout and sends.is_sent
