{#-
    The one shape every audience has (the segment contract in models/segments/_segments__models.yml):
    the person key, the contact keys each channel needs, a few traits for message templates, and
    the consent flags the activation CLI enforces. `condition` is a SQL predicate over the columns of
    member_profiles.
-#}
{% macro select_audience(audience_name, condition) %}
with

members as (

    select * from {{ ref('dim_members') }}

),

member_profiles as (

    select * from {{ ref('member_profiles') }}

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

final as (

    select
        one_id,
        cast('{{ audience_name }}' as {{ dbt.type_string() }}) as audience_name,
        display_name,
        phone,
        email,
        wechat_unionid,
        wechat_openid,
        app_device_id,
        member_level,
        lifecycle_stage,
        rfm_group,
        {% for channel in consent_channels() %}
        is_{{ channel }}_consented,
        {% endfor %}
        as_of_date
    from candidates
    where {{ condition }}

)

select * from final
{% endmacro %}
