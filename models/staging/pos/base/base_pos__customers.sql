{{ config(materialized="table", post_hook="{{ store_unreadable_landing_rows('pos_customers') }}") }}

{{ checked_landing_rows(source('pos', 'pos_customers')) }}
