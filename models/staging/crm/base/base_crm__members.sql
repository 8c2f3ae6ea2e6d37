{{ config(materialized="table", post_hook="{{ store_unreadable_landing_rows('crm_members') }}") }}

{{ checked_landing_rows(source('crm', 'crm_members')) }}
