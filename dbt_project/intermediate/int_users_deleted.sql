-- Users Descope no longer has (docs/design.md, "Deleted users"): a UserDeleted audit event for the
-- user, or a successful full users sweep that started after the user was last extracted (a full
-- sweep reads every user alive through it, so a user it did not read was gone).
with

audit_events as (
    select * from {{ ref('stg_descope__audit_events') }}
),

user_versions as (
    select * from {{ ref('stg_descope__users') }}
),

sync_runs as (
    select * from {{ ref('stg_descope__sync_runs') }}
),

deleted_by_event as (
    select
        user_id,
        min(occurred_at) as deleted_at
    from audit_events
    where action = 'UserDeleted' and user_id is not null
    group by user_id
),

last_full_sweep as (
    select max(started_at) as started_at
    from sync_runs
    where stream = 'users' and mode = 'full' and status = 'success'
),

users_last_extracted as (
    select
        user_id,
        max(_extracted_at) as last_extracted_at
    from user_versions
    group by user_id
),

missed_by_full_sweep as (
    select
        users_last_extracted.user_id,
        last_full_sweep.started_at as deleted_at
    from users_last_extracted
    cross join last_full_sweep
    where users_last_extracted.last_extracted_at < last_full_sweep.started_at
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
