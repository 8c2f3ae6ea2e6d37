{{ config(materialized="table", post_hook="{{ store_unreadable_landing_rows('products') }}") }}

{{ checked_landing_rows(source('commerce', 'products')) }}
