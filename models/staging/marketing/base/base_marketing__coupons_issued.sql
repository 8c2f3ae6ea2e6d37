{{ config(materialized="table", post_hook="{{ store_unreadable_landing_rows('coupons_issued') }}") }}

{{ checked_landing_rows(source('marketing', 'coupons_issued')) }}
