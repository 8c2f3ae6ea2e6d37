{{ config(materialized="table", post_hook="{{ store_unreadable_landing_rows('orders') }}") }}

{{ checked_landing_rows(source('commerce', 'orders')) }}
