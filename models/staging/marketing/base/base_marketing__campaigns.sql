{{ config(materialized="table", post_hook="{{ store_unreadable_landing_rows('campaigns') }}") }}

{{ checked_landing_rows(source('marketing', 'campaigns')) }}
