-- The deletion safety valve. Errors when the latest users full sweep to finish (its terminal row,
-- by finished_at) reconciled with Descope's count but was held: it would remove more than the
-- allowed share of live users, so int_users_deleted removed nobody. Nobody is removed until a later
-- sweep is accepted, or someone confirms this one with var confirm_deletions_sweep_id (env
-- DESCOPE_CONFIRM_DELETIONS_SWEEP_ID). The failing row says the sweep, how many users it would
-- remove of how many live, and the exact command.
-- It runs after the marts (the refs below), so a failure skips nothing.
-- depends_on: {{ ref('users_clean') }}
-- depends_on: {{ ref('user_logins') }}
{{ config(severity='error') }}

with

sync_runs as (
    select * from {{ ref('stg_descope__sync_runs') }}
),

terminal_sweep_rows as (
    select
        *,
        row_number() over (
            order by finished_at desc nulls last, started_at desc, run_id desc
        ) as recency_rank
    from sync_runs
    where is_sweep_end
),

held_sweep as (
    select *
    from terminal_sweep_rows
    where
        recency_rank = 1
        -- held by the valve and not confirmed (stg_descope__sync_runs.is_held_sweep)
        and is_held_sweep
),

final as (
    select
        sweep_id,
        sweep_started_at,
        finished_at,
        would_remove,
        live_before,
        reason,
        concat(
            'users full sweep ', coalesce(sweep_id, '?'), ' (started ',
            coalesce(cast(sweep_started_at as {{ dbt.type_string() }}), '?'),
            ') is held: it would remove ',
            coalesce(cast(would_remove as {{ dbt.type_string() }}), '?'), ' of ',
            coalesce(cast(live_before as {{ dbt.type_string() }}), '?'),
            ' live users, more than the safety valve allows, so nobody was removed',
            case when reason is not null then concat(' (', reason, ')') else '' end,
            '. If those users really are gone from Descope, confirm the sweep: ',
            {{ sql_string("dbt build --vars '{confirm_deletions_sweep_id: \"") }},
            coalesce(sweep_id, '?'),
            {{ sql_string("\"}' or DESCOPE_CONFIRM_DELETIONS_SWEEP_ID=") }},
            coalesce(sweep_id, '?'),
            '; else a later accepted sweep clears this'
        ) as problem
    from held_sweep
)

select * from final
