{{ config(materialized="table", post_hook="{{ store_unreadable_landing_rows('app_users') }}") }}

{{ checked_landing_rows(source('app', 'app_users')) }}
