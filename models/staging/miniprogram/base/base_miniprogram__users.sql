{{ config(materialized="table", post_hook="{{ store_unreadable_landing_rows('miniprogram_users') }}") }}

{{ checked_landing_rows(source('miniprogram', 'miniprogram_users')) }}
