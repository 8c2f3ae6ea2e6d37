{{ config(materialized="table", post_hook="{{ store_unreadable_landing_rows('suppression_list') }}") }}

{{ checked_landing_rows(source('marketing', 'suppression_list')) }}
