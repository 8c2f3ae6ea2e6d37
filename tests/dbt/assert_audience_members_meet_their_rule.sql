-- Every member of the churn-warning audiences satisfies the warning as tagged, on the same as-of date.
select audience.one_id
from {{ ref('seg_high_value_churn_risk') }} as audience
inner join {{ ref('member_profiles') }} as profiles
    on audience.one_id = profiles.one_id and audience.as_of_date = profiles.as_of_date
where
    not profiles.is_high_value
    or profiles.days_since_last_order < {{ var('onedata__warning_high_value_lapse_days') }}
    or profiles.lifecycle_stage = 'churned'
union all
select audience.one_id
from {{ ref('seg_growth_members_lapsing') }} as audience
inner join {{ ref('member_profiles') }} as profiles
    on audience.one_id = profiles.one_id and audience.as_of_date = profiles.as_of_date
where
    profiles.lifecycle_stage <> 'growth'
    or profiles.days_since_last_order < {{ var('onedata__warning_growth_lapse_days') }}
