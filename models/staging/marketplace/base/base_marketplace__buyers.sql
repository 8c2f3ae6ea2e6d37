{{ config(materialized="table", post_hook="{{ store_unreadable_landing_rows('marketplace_buyers') }}") }}

{{ checked_landing_rows(source('marketplace', 'marketplace_buyers')) }}
