with

source as (
    -- FINAL: one row per key however often the platform re-sent it (see docs/ingest.md)
    select * from {{ source('raw', 'venues') }} final
),

final as (
    select * except (ingested_at) from source
)

select * from final
