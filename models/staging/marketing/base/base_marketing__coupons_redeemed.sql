{{ config(materialized="table", post_hook="{{ store_unreadable_landing_rows('coupons_redeemed') }}") }}

{{ checked_landing_rows(source('marketing', 'coupons_redeemed')) }}
