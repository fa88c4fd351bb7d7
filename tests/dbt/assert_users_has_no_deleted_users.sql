-- The users mart holds live users only: no user deleted per docs/design.md (a deletion event,
-- or missed by the latest accepted full sweep) may remain after the merge and its post-hook.
select
    live_users.user_id,
    deleted.deleted_detected_at,
    deleted.is_deleted_by_event,
    deleted.is_missed_by_full_sweep
from {{ ref('users') }} as live_users
inner join {{ ref('int_users_deleted') }} as deleted
    on live_users.user_id = deleted.user_id
