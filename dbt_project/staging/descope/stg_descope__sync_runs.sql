-- Extractor runs per stream, as written by the extractor (one row per run and stream).
with

source as (
    select * from {{ source('descope', '_sync_runs') }}
),

final as (
    select
        run_id,
        stream,
        status,
        mode,
        started_at,
        finished_at,
        cursor_from,
        cursor_to,
        rows_loaded,
        error
    from source
)

select * from final
