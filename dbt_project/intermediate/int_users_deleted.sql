{{ config(materialized='table') }}
-- Users Descope no longer has (docs/design.md, "Deleted users"). Fail-closed: only proof deletes.
-- 1. By event, an audit action in var user_deletion_actions. `UserDeleted` names its user in
--    `userId`. Any other (bulk) action, `UsersDeleted`, carries its IDs where Descope does not
--    document: its `userId`, plus every string anywhere in its `data` and `externalIds` that is a
--    landed user_id, never its `actorId` (an admin who deletes others is not deleted).
-- 2. By sweep: the user was last extracted before the latest accepted users full sweep started (a
--    full sweep reads every user alive through it). Accepted: the sweep's terminal row has status
--    `success` (reconciled, not held by the safety valve), or its sweep_id is var
--    confirm_deletions_sweep_id and it reconciled. Checkpoints (`partial`), `incomplete` sweeps,
--    `failed` runs and unreconciled sweeps never delete anyone.
-- A table, rebuilt on every run from typed tables (a new accepted sweep can delete anyone): the
-- users mart and two tests read it.
{%- set confirmed_sweep_id = "nullif(" ~ sql_string(confirmed_deletions_sweep_id()) ~ ", '')" %}
with

audit_events as (
    select * from {{ ref('stg_descope__audit_events') }}
),

latest_versions as (
    select * from {{ ref('int_users_deduplicated') }}
),

sync_runs as (
    select * from {{ ref('stg_descope__sync_runs') }}
),

deletion_events as (
    select
        event_id,
        action,
        user_id,
        actor_id,
        external_ids,
        event_data,
        occurred_at
    from audit_events
    where action in ({{ quoted_list(var('user_deletion_actions')) }})
),

users_last_extracted as (
    select
        user_id,
        _latest_extracted_at as last_extracted_at
    from latest_versions
),

named_by_user_id as (
    select
        user_id,
        occurred_at as deleted_at
    from deletion_events
    where user_id is not null
),

bulk_deletion_events as (
    select *
    from deletion_events
    where action != 'UserDeleted'
),

strings_in_data as (
    select
        bulk_deletion_events.actor_id,
        bulk_deletion_events.occurred_at,
        -- the unnested value; how to qualify it differs between engines
        candidate  -- noqa: RF03
    from bulk_deletion_events
    {{ cross_join_unnest(json_strings('bulk_deletion_events.event_data'), 'candidate') }}
),

strings_in_external_ids as (
    select
        bulk_deletion_events.actor_id,
        bulk_deletion_events.occurred_at,
        -- the unnested value; how to qualify it differs between engines
        candidate  -- noqa: RF03
    from bulk_deletion_events
    {{ cross_join_unnest(json_strings('bulk_deletion_events.external_ids'), 'candidate') }}
),

bulk_strings as (
    select * from strings_in_data
    union all
    select * from strings_in_external_ids
),

named_in_bulk_payload as (
    select
        bulk_strings.candidate as user_id,
        bulk_strings.occurred_at as deleted_at
    from bulk_strings
    inner join users_last_extracted
        on bulk_strings.candidate = users_last_extracted.user_id
    where bulk_strings.actor_id is null or bulk_strings.candidate != bulk_strings.actor_id
),

named_users as (
    select * from named_by_user_id
    union all
    select * from named_in_bulk_payload
),

deleted_by_event as (
    select
        user_id,
        min(deleted_at) as deleted_at
    from named_users
    group by user_id
),

-- The one row that ends a users full sweep (its checkpoints are `partial`). Rows written before
-- sweeps had ids span one run: their sweep started when the run did.
terminal_sweep_rows as (
    select
        sweep_id,
        status,
        is_reconciled,
        is_held,
        coalesce(sweep_started_at, started_at) as sweep_started_at
    from sync_runs
    where stream = 'users' and mode = 'full' and status in ('success', 'incomplete')
),

accepted_sweeps as (
    select sweep_started_at
    from terminal_sweep_rows
    where
        -- `success` means reconciled and not held; details that say otherwise are not trusted
        -- (a row without details predates them and keeps its meaning).
        (status = 'success' and coalesce(is_reconciled, true) and not coalesce(is_held, false))
        -- confirmed: var confirm_deletions_sweep_id names it (null when the var is empty)
        or (sweep_id = {{ confirmed_sweep_id }} and coalesce(is_reconciled, false))
),

latest_accepted_sweep as (
    select max(sweep_started_at) as started_at
    from accepted_sweeps
),

missed_by_full_sweep as (
    select
        users_last_extracted.user_id,
        latest_accepted_sweep.started_at as deleted_at
    from users_last_extracted
    cross join latest_accepted_sweep
    where users_last_extracted.last_extracted_at < latest_accepted_sweep.started_at
),

deletions as (
    select
        user_id,
        deleted_at,
        1 as by_event,
        0 as by_full_sweep
    from deleted_by_event
    union all
    select
        user_id,
        deleted_at,
        0 as by_event,
        1 as by_full_sweep
    from missed_by_full_sweep
),

final as (
    select
        user_id,
        min(deleted_at) as deleted_detected_at,
        max(by_event) = 1 as is_deleted_by_event,
        max(by_full_sweep) = 1 as is_missed_by_full_sweep
    from deletions
    group by user_id
)

select * from final
