{#- A view: the runs `activate sync` writes as it goes, current between builds. -#}
{{ config(materialized='view') }}

select * from {{ ref('stg_activation__sync_runs') }}
