{{ config(materialized="table", post_hook="{{ store_unreadable_landing_rows('points_transactions') }}") }}

{{ checked_landing_rows(source('crm', 'points_transactions')) }}
