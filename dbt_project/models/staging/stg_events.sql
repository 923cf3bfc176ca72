with

source as (
    select * from {{ source('raw', 'events') }}
),

final as (
    select * except (ingested_at) from source
)

select * from final
