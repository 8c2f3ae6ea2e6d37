{{ config(materialized="table", post_hook="{{ store_unreadable_landing_rows('wecom_external_contacts') }}") }}

{{ checked_landing_rows(source('wecom', 'wecom_external_contacts')) }}
