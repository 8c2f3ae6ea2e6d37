{{ config(materialized="table", post_hook="{{ store_unreadable_landing_rows('stores') }}") }}

{{ checked_landing_rows(source('commerce', 'stores')) }}
