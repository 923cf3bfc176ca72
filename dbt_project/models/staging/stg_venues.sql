with

source as (
    select * from {{ source('raw', 'venues') }}
),

final as (
    select * except (ingested_at) from source
)

select * from final
