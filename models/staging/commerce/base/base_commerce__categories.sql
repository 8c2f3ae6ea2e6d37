{{ config(materialized="table", post_hook="{{ store_unreadable_landing_rows('categories') }}") }}

{{ checked_landing_rows(source('commerce', 'categories')) }}
