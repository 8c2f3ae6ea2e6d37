{{ config(materialized="table", post_hook="{{ store_unreadable_landing_rows('feedback_events') }}") }}

{{ checked_landing_rows(source('marketing', 'feedback_events')) }}
