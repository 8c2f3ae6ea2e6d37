{#-
    The one shape every audience has (the segment contract in models/segments/_segments__models.yml):
    the person key, the contact keys each channel needs, a few traits for message templates, and
    the consent flags the activation CLI enforces. `condition` is a SQL predicate over the columns of
    member_profiles.

    Suppressions (dim_member_suppressions) are enforced here, so that no audience can forget them:
    a member suppressed on every channel is left out, and one suppressed on a channel has that
    channel's is_<channel>_consented false. is_ad_platform_consented stays PIPL's separate consent:
    only a suppression on the ad_platform channel turns it false.
-#}
{% macro select_audience(audience_name, condition) %}
with

members as (

    select * from {{ ref('dim_members') }}

),

member_profiles as (

    select * from {{ ref('member_profiles') }}

),

member_suppressions as (

    select * from {{ ref('dim_member_suppressions') }}

),

candidates as (

    select
        member_profiles.*,
        members.display_name,
        members.phone,
        members.email,
        members.wechat_unionid,
        members.wechat_openid,
        members.app_device_id,
        members.one_id as member_one_id
    from member_profiles
    inner join members
        on member_profiles.one_id = members.one_id

),

selected as (

    select *
    from candidates
    where {{ condition }}

),

suppressed_channels as (

    select
        one_id,
        {% for channel in consent_channels() %}
            max(case when channel = '{{ channel }}' then 1 else 0 end) = 1 as is_{{ channel }}_suppressed,
        {% endfor %}
        max(case when channel = 'all' then 1 else 0 end) = 1 as is_suppressed_everywhere
    from member_suppressions
    group by one_id

),

final as (

    select
        selected.one_id,
        cast('{{ audience_name }}' as {{ dbt.type_string() }}) as audience_name,
        selected.display_name,
        selected.phone,
        selected.email,
        selected.wechat_unionid,
        selected.wechat_openid,
        selected.app_device_id,
        selected.member_level,
        selected.lifecycle_stage,
        selected.rfm_group,
        {% for channel in consent_channels() %}
            case
                when suppressed_channels.is_{{ channel }}_suppressed then false
                else selected.is_{{ channel }}_consented
            end as is_{{ channel }}_consented,
        {% endfor %}
        selected.as_of_date
    from selected
    left join suppressed_channels
        on selected.one_id = suppressed_channels.one_id
    where suppressed_channels.is_suppressed_everywhere is null or not suppressed_channels.is_suppressed_everywhere

)

select * from final
{% endmacro %}
