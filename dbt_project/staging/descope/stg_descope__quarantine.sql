{{ config(materialized='view') }}
-- Records the extractor could not land, counted per stream, reason and batch.
with

source as (
    select * from {{ source('descope', '_quarantine') }}
),

final as (
    select
        stream,
        reason,
        _batch_id,
        count(*) as records_quarantined,
        min(_extracted_at) as first_extracted_at,
        max(_extracted_at) as last_extracted_at
    from source
    group by stream, reason, _batch_id
)

select * from final
