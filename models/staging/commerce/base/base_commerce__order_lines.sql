{{ config(materialized="table", post_hook="{{ store_unreadable_landing_rows('order_lines') }}") }}

{{ checked_landing_rows(source('commerce', 'order_lines')) }}
