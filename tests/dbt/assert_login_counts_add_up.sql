-- Login activity is counted incrementally (each login once, when it is staged): the counts of all
-- users together must equal the logins user_logins holds (impersonations are no one's activity).
-- A difference means a login was counted twice or never, e.g. after a --full-refresh of staging
-- alone: `descope-sync transform --full-refresh` recounts everything.
with

counted as (
    select coalesce(sum(login_count), 0) as counted_logins
    from {{ ref('int_users_login_activity') }}
),

held as (
    select count(*) as held_logins
    from {{ ref('user_logins') }}
    where not is_impersonation
)

select
    counted.counted_logins,
    held.held_logins
from counted
cross join held
where counted.counted_logins != held.held_logins
