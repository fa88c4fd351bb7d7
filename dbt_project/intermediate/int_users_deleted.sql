{{ config(materialized='table') }}
-- Users Descope no longer has (docs/design.md, "Deleted users"). Fail-closed: only proof deletes.
-- 1. By event. A single deletion (var single_user_deletion_actions, `UserDeleted`) names its user
--    in `userId`. A bulk deletion (var bulk_user_deletion_actions, `UsersDeleted`) carries its IDs
--    where Descope does not document: its `userId`, plus every string anywhere in its `data` and
--    `externalIds` that is a landed user_id, never its `actorId` (an admin who deletes others is
--    not deleted).
-- 2. By sweep: the user was last extracted before the latest accepted users full sweep started (a
--    full sweep reads every user alive through it). Accepted: stg_descope__sync_runs.is_accepted_sweep
--    (the rule is written there once). Checkpoints (`partial`), `incomplete` sweeps, `failed` runs
--    and unreconciled sweeps never delete anyone.
-- The extractor counts live users by the same rules (landing/live_users.py; a test holds them equal).
-- A table, rebuilt on every run from typed tables (a new accepted sweep can delete anyone): the
-- users mart and two tests read it.
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
    where
        action in ({{ quoted_list(var('single_user_deletion_actions') + var('bulk_user_deletion_actions')) }})
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
    where action in ({{ quoted_list(var('bulk_user_deletion_actions')) }})
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

latest_accepted_sweep as (
    select max(sweep_started_at) as started_at
    from sync_runs
    where is_accepted_sweep
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
