{{ config(materialized='view') }}
-- Extractor runs per stream, as written by the extractor (one row per run and stream), with the
-- users full-sweep fields typed out of `details` and the rules that read `_sync_runs` written once
-- (docs/design.md, "Cursors" and "Deleted users"): which rows count toward a stream's cursor,
-- which row ends a users full sweep, and which sweep is accepted or held. The extractor applies
-- the same rules (contract.cursor_sql, descope_sync/sweeps.py); tests hold both readings equal.
{%- set confirmed_sweep_id = "nullif(" ~ sql_string(confirmed_deletions_sweep_id()) ~ ", '')" %}
with

source as (
    select * from {{ source('descope', '_sync_runs') }}
),

latest_resets as (
    select
        stream,
        max(finished_at) as finished_at
    from source
    where status = 'reset'
    group by stream
),

typed as (
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
        {{ json_string('details', '$.reason') }} as reason,
        -- the one row that ends a users full sweep (its checkpoints are `partial`); full runs
        -- written before sweeps had ids say nothing about which users were live when
        coalesce(
            stream = 'users' and mode = 'full' and status in ('success', 'incomplete') and sweep_id is not null,
            false
        ) as is_sweep_end
    from source
),

final as (
    select
        typed.*,
        -- its cursor_to counts toward the stream's cursor: a status in var cursor_statuses, and
        -- finished after the stream's latest `reset` (a row without finished_at counts)
        coalesce(
            typed.status in ({{ quoted_list(var('cursor_statuses')) }})
            and (
                latest_resets.finished_at is null
                or typed.finished_at is null
                or typed.finished_at > latest_resets.finished_at
            ),
            false
        ) as is_cursor_row,
        -- the sweep may delete the users it did not read: it has a start, and its end is `success`
        -- (reconciled and not held; details that say otherwise are not trusted, a row without
        -- details keeps its meaning), or var confirm_deletions_sweep_id names it and it reconciled
        coalesce(
            typed.is_sweep_end
            and typed.sweep_started_at is not null
            and (
                (
                    typed.status = 'success'
                    and coalesce(typed.is_reconciled, true)
                    and not coalesce(typed.is_held, false)
                )
                or (typed.sweep_id = {{ confirmed_sweep_id }} and coalesce(typed.is_reconciled, false))
            ),
            false
        ) as is_accepted_sweep,
        -- held by the deletion safety valve and not confirmed by var confirm_deletions_sweep_id
        coalesce(
            typed.is_sweep_end
            and coalesce(typed.is_held, false)
            and not coalesce(typed.sweep_id = {{ confirmed_sweep_id }}, false),
            false
        ) as is_held_sweep
    from typed
    left join latest_resets
        on typed.stream = latest_resets.stream
)

select * from final
