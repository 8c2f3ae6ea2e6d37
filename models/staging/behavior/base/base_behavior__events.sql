{{ config(materialized="table", post_hook="{{ store_unreadable_landing_rows('behavior_events') }}") }}

{{ checked_landing_rows(source('behavior', 'behavior_events')) }}
