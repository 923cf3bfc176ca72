with

source as (
    select * from {{ source('raw', 'scans') }}
),

final as (
    select * except (ingested_at) from source
)

select * from final
