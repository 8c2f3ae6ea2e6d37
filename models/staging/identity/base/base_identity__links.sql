{{ config(materialized="table", post_hook="{{ store_unreadable_landing_rows('identity_links') }}") }}

{{ checked_landing_rows(source('identity', 'identity_links')) }}
