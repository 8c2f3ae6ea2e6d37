{#- What, where, when and how each person likes to buy (the 5W2H portrait): categories, brand,
    channel, store, time of day, day of week, coupon sensitivity (claimed vs redeemed), member-day
    sensitivity and price band. Paid orders up to the as-of date; one row per person. -#}
with

members as (

    select * from {{ ref('dim_members') }}

),

orders as (

    select * from {{ ref('int_orders_paid_as_of') }}

),

order_lines as (

    select * from {{ ref('fct_order_lines') }}

),

products as (

    select * from {{ ref('dim_products') }}

),

stores as (

    select * from {{ ref('dim_stores') }}

),

coupons as (

    select * from {{ ref('fct_coupons') }}

),

as_of as (

    select * from {{ ref('int_as_of_date') }}

),

-- Landed timestamps are UTC; time of day, weekday and the member day are the shopper's local ones.
local_orders as (

    select
        orders.*,
        {{ to_local_timestamp('orders.ordered_at') }} as ordered_at_local
    from orders

),

paid_orders as (

    select
        orders.one_id,
        orders.order_id,
        orders.channel,
        orders.coupon_id,
        orders.net_amount,
        stores.store_name,
        case
            when extract(hour from orders.ordered_at_local) between 6 and 11 then 'morning'
            when extract(hour from orders.ordered_at_local) between 12 and 17 then 'afternoon'
            when extract(hour from orders.ordered_at_local) between 18 and 22 then 'evening'
            else 'night'
        end as time_of_day,
        {{ iso_day_of_week('orders.ordered_at_local') }} as iso_day_of_week,
        extract(day from orders.ordered_at_local) = {{ var('onedata__member_day_of_month') }} as is_member_day
    from local_orders as orders
    left join stores
        on orders.store_id = stores.store_id

),

-- Each product's price tier within its category: the thirds of the category's list prices.
product_price_tiers as (

    select
        product_id,
        case ntile(3) over (partition by category_id order by list_price, product_id)
            when 1 then 'budget'
            when 2 then 'mid'
            else 'premium'
        end as price_band
    from products

),

paid_lines as (

    select
        order_lines.one_id,
        order_lines.line_amount,
        order_lines.quantity,
        products.category_name,
        products.top_category_name,
        products.brand_name,
        product_price_tiers.price_band
    from order_lines
    inner join paid_orders
        on order_lines.order_id = paid_orders.order_id
    left join products
        on order_lines.product_id = products.product_id
    left join product_price_tiers
        on order_lines.product_id = product_price_tiers.product_id

),

category_ranks as (

    {{ ranked_preferences('paid_lines', 'category_name', 'line_amount') }}

),

top_category_ranks as (

    {{ ranked_preferences('paid_lines', 'top_category_name', 'line_amount') }}

),

brand_ranks as (

    {{ ranked_preferences('paid_lines', 'brand_name', 'line_amount') }}

),

price_band_ranks as (

    {{ ranked_preferences('paid_lines', 'price_band', 'line_amount') }}

),

channel_ranks as (

    {{ ranked_preferences('paid_orders', 'channel', '1') }}

),

store_ranks as (

    {{ ranked_preferences('paid_orders', 'store_name', '1') }}

),

time_of_day_ranks as (

    {{ ranked_preferences('paid_orders', 'time_of_day', '1') }}

),

day_of_week_ranks as (

    {{ ranked_preferences('paid_orders', 'iso_day_of_week', '1') }}

),

order_habits as (

    select
        one_id,
        count(*) as paid_order_count,
        avg(case when iso_day_of_week >= 6 then 1.0 else 0.0 end) as weekend_order_share,
        avg(case when is_member_day then 1.0 else 0.0 end) as member_day_order_share,
        avg(case when coupon_id is not null then 1.0 else 0.0 end) as coupon_order_share
    from paid_orders
    group by one_id

),

line_habits as (

    select
        one_id,
        sum(line_amount) / nullif(sum(quantity), 0) as average_unit_price_paid
    from paid_lines
    group by one_id

),

coupon_habits as (

    select
        coupons.one_id,
        count(*) as coupons_claimed_count,
        sum(case when coupons.is_redeemed then 1 else 0 end) as coupons_redeemed_count
    from coupons
    cross join as_of
    where coupons.one_id is not null and {{ to_local_date('coupons.issued_at') }} <= as_of.as_of_date
    group by coupons.one_id

),

final as (

    select
        members.one_id,
        category_first.preference_value as preferred_category,
        category_second.preference_value as second_preferred_category,
        top_category_ranks.preference_value as preferred_top_category,
        brand_ranks.preference_value as preferred_brand,
        channel_ranks.preference_value as preferred_channel,
        store_ranks.preference_value as preferred_store,
        time_of_day_ranks.preference_value as preferred_time_of_day,
        case day_of_week_ranks.preference_value
            when 1 then 'monday' when 2 then 'tuesday' when 3 then 'wednesday' when 4 then 'thursday'
            when 5 then 'friday' when 6 then 'saturday' when 7 then 'sunday'
        end as preferred_day_of_week,
        order_habits.weekend_order_share,
        coalesce(
            order_habits.paid_order_count >= {{ var('onedata__preference_min_orders') }}
            and order_habits.weekend_order_share >= {{ var('onedata__preference_weekend_min_share') }},
            false
        ) as is_weekend_shopper,
        coalesce(coupon_habits.coupons_claimed_count, 0) as coupons_claimed_count,
        coalesce(coupon_habits.coupons_redeemed_count, 0) as coupons_redeemed_count,
        cast(coupon_habits.coupons_redeemed_count as double) / coupon_habits.coupons_claimed_count
            as coupon_redemption_rate,
        case
            when coalesce(coupon_habits.coupons_claimed_count, 0) = 0 then 'none'
            when coupon_habits.coupons_redeemed_count
                >= {{ var('onedata__coupon_sensitivity_high_min_rate') }} * coupon_habits.coupons_claimed_count
                then 'high'
            when coupon_habits.coupons_redeemed_count
                >= {{ var('onedata__coupon_sensitivity_medium_min_rate') }} * coupon_habits.coupons_claimed_count
                then 'medium'
            else 'low'
        end as coupon_sensitivity,
        order_habits.coupon_order_share,
        order_habits.member_day_order_share,
        coalesce(
            order_habits.paid_order_count >= {{ var('onedata__preference_min_orders') }}
            and order_habits.member_day_order_share >= {{ var('onedata__member_day_sensitive_min_share') }},
            false
        ) as is_member_day_sensitive,
        line_habits.average_unit_price_paid,
        price_band_ranks.preference_value as price_band,
        as_of.as_of_date
    from members
    cross join as_of
    left join category_ranks as category_first
        on members.one_id = category_first.one_id and category_first.preference_rank = 1
    left join category_ranks as category_second
        on members.one_id = category_second.one_id and category_second.preference_rank = 2
    left join top_category_ranks
        on members.one_id = top_category_ranks.one_id and top_category_ranks.preference_rank = 1
    left join brand_ranks
        on members.one_id = brand_ranks.one_id and brand_ranks.preference_rank = 1
    left join channel_ranks
        on members.one_id = channel_ranks.one_id and channel_ranks.preference_rank = 1
    left join store_ranks
        on members.one_id = store_ranks.one_id and store_ranks.preference_rank = 1
    left join time_of_day_ranks
        on members.one_id = time_of_day_ranks.one_id and time_of_day_ranks.preference_rank = 1
    left join day_of_week_ranks
        on members.one_id = day_of_week_ranks.one_id and day_of_week_ranks.preference_rank = 1
    left join price_band_ranks
        on members.one_id = price_band_ranks.one_id and price_band_ranks.preference_rank = 1
    left join order_habits
        on members.one_id = order_habits.one_id
    left join line_habits
        on members.one_id = line_habits.one_id
    left join coupon_habits
        on members.one_id = coupon_habits.one_id

)

select * from final
