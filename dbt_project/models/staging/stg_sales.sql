with

source as (
    select * from {{ source('raw', 'sales') }}
),

final as (
    select * except (ingested_at) from source
)

select * from final
