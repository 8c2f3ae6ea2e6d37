{#- Next best categories (seed 004's recommendation slots): for each person, the three categories
    they have not bought but people who bought the same categories often did. Affinity is lift:
    the share of a category's buyers who also bought the other, over the other's share of all
    buyers (above 1: bought together more than by chance). A pair counts only when at least
    onedata__next_best_min_pair_buyers people bought both. A candidate's score is its best lift
    from any category the person bought; ties go to the smaller category id. -#}
with

order_lines as (

    select * from {{ ref('fct_order_lines') }}

),

categories as (

    select * from {{ ref('dim_categories') }}

),

members as (

    select * from {{ ref('dim_members') }}

),

as_of as (

    select * from {{ ref('int_as_of_date') }}

),

bought as (

    select distinct
        order_lines.one_id,
        order_lines.category_id
    from order_lines
    cross join as_of
    where
        order_lines.is_paid
        and order_lines.one_id is not null
        and order_lines.category_id is not null
        and order_lines.order_date <= as_of.as_of_date

),

buyer_total as (

    select count(distinct one_id) as buyer_count from bought

),

category_buyers as (

    select
        category_id,
        count(*) as buyer_count
    from bought
    group by category_id

),

pair_buyers as (

    select
        from_bought.category_id as from_category_id,
        to_bought.category_id as to_category_id,
        count(*) as pair_buyer_count
    from bought as from_bought
    inner join bought as to_bought
        on
            from_bought.one_id = to_bought.one_id
            and from_bought.category_id <> to_bought.category_id
    group by from_bought.category_id, to_bought.category_id

),

affinities as (

    select
        pair_buyers.from_category_id,
        pair_buyers.to_category_id,
        (cast(pair_buyers.pair_buyer_count as double) / from_buyers.buyer_count)
        / (cast(to_buyers.buyer_count as double) / buyer_total.buyer_count) as lift
    from pair_buyers
    inner join category_buyers as from_buyers
        on pair_buyers.from_category_id = from_buyers.category_id
    inner join category_buyers as to_buyers
        on pair_buyers.to_category_id = to_buyers.category_id
    cross join buyer_total
    where pair_buyers.pair_buyer_count >= {{ var('onedata__next_best_min_pair_buyers') }}

),

candidates as (

    select
        bought.one_id,
        affinities.to_category_id as category_id,
        max(affinities.lift) as affinity_lift
    from bought
    inner join affinities
        on bought.category_id = affinities.from_category_id
    left join bought as already_bought
        on
            bought.one_id = already_bought.one_id
            and affinities.to_category_id = already_bought.category_id
    where already_bought.category_id is null and affinities.lift > 1
    group by bought.one_id, affinities.to_category_id

),

ranked as (

    select
        candidates.one_id,
        categories.category_name,
        candidates.affinity_lift,
        row_number() over (
            partition by candidates.one_id order by candidates.affinity_lift desc, candidates.category_id asc
        ) as recommendation_rank
    from candidates
    inner join categories
        on candidates.category_id = categories.category_id

),

final as (

    select
        members.one_id,
        {% for rank in [1, 2, 3] -%}
            max(case when ranked.recommendation_rank = {{ rank }} then ranked.category_name end)
                as next_best_category_{{ rank }},
        {% endfor -%}
        max(case when ranked.recommendation_rank = 1 then ranked.affinity_lift end) as next_best_category_1_lift,
        max(as_of.as_of_date) as as_of_date
    from members
    cross join as_of
    left join ranked
        on members.one_id = ranked.one_id and ranked.recommendation_rank <= 3
    group by members.one_id

)

select * from final
