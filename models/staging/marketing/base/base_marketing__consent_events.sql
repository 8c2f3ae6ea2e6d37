{{ config(materialized="table", post_hook="{{ store_unreadable_landing_rows('marketing_consent') }}") }}

{{ checked_landing_rows(source('marketing', 'marketing_consent')) }}
