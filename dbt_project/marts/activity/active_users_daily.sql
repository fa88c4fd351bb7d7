-- Daily, weekly and monthly active users, one row per UTC day from the first login day to the
-- latest one. A user is active on a day when they logged in (user_logins) that UTC day; weekly
-- and monthly active users count the distinct users active in the 7 and 30 days ending on the
-- day. Logins of users deleted since still count: they happened. A table, rebuilt each run
-- (every day's rolling counts depend on days around it; incremental buys nothing at this size).
with

user_days as (
    select distinct
        user_id,
        {{ to_utc_date('login_at') }} as activity_date
    from {{ ref('user_logins') }}
),

bounds as (
    select
        min(activity_date) as first_day,
        max(activity_date) as last_day
    from user_days
),

days as (
    {{ date_series('(select bounds.first_day from bounds)', '(select bounds.last_day from bounds)', 'activity_date') }}
),

day_offsets as (
    {{ integer_series(0, 29, 'day_offset') }}
),

-- each active day counts for itself and the 29 days after it
credited_days as (
    select
        user_days.user_id,
        day_offsets.day_offset,
        {{ add_days('user_days.activity_date', 'day_offsets.day_offset') }} as activity_date
    from user_days
    cross join day_offsets
),

counts as (
    select
        activity_date,
        count(distinct case when day_offset = 0 then user_id end) as daily_active_users,
        count(distinct case when day_offset < 7 then user_id end) as weekly_active_users,
        count(distinct user_id) as monthly_active_users
    from credited_days
    group by activity_date
),

final as (
    select
        days.activity_date,
        coalesce(counts.daily_active_users, 0) as daily_active_users,
        coalesce(counts.weekly_active_users, 0) as weekly_active_users,
        coalesce(counts.monthly_active_users, 0) as monthly_active_users
    from days
    left join counts
        on days.activity_date = counts.activity_date
)

select * from final
