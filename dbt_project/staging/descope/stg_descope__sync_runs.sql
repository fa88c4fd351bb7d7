{{ config(materialized='view') }}
-- Extractor runs per stream, as written by the extractor (one row per run and stream), with the
-- users full-sweep fields typed out of `details` (docs/design.md, "Deleted users").
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
        error,
        sweep_id,
        sweep_started_at,
        details,
        {{ json_bool('details', '$.reconciled') }} as is_reconciled,
        {{ json_bool('details', '$.held') }} as is_held,
        {{ json_int('details', '$.would_remove') }} as would_remove,
        {{ json_int('details', '$.live_before') }} as live_before,
        {{ json_int('details', '$.source_total') }} as source_total,
        {{ json_int('details', '$.users_seen') }} as users_seen,
        {{ json_string('details', '$.reason') }} as reason
    from source
)

select * from final
