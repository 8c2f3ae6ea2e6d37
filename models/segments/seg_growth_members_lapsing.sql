{#- Growth members, who buy every one to two weeks, now 21+ days without a purchase (seed 003). -#}
{{ select_audience('growth_members_lapsing', 'is_growth_lapse_warning') }}
