-- Signups, deletions and the user count, one row per UTC day from the first signup (or
-- deletion) to the latest one. Every user ever landed counts on the day Descope created them
-- (`createdTime`), including users deleted since and test users; a user without a usable
-- creation time counts in no day. A table, rebuilt each run (a deletion changes past totals).
with

signups as (
    select * from {{ ref('int_users_signed_up') }}
),

deletions as (
    select
        user_id,
        {{ to_utc_date('deleted_detected_at') }} as deleted_date
    from {{ ref('int_users_deleted') }}
    where user_id in (select signups.user_id from signups)
),

signups_per_day as (
    select
        signup_date as activity_date,
        count(*) as new_users
    from signups
    group by signup_date
),

deletions_per_day as (
    select
        deleted_date as activity_date,
        count(*) as deleted_users
    from deletions
    group by deleted_date
),

bounds as (
    select
        min(activity_date) as first_day,
        max(activity_date) as last_day
    from (
        select activity_date from signups_per_day
        union all
        select activity_date from deletions_per_day
    ) as event_days
),

days as (
    {{ date_series('(select bounds.first_day from bounds)', '(select bounds.last_day from bounds)', 'activity_date') }}
),

daily as (
    select
        days.activity_date,
        coalesce(signups_per_day.new_users, 0) as new_users,
        coalesce(deletions_per_day.deleted_users, 0) as deleted_users
    from days
    left join signups_per_day
        on days.activity_date = signups_per_day.activity_date
    left join deletions_per_day
        on days.activity_date = deletions_per_day.activity_date
),

final as (
    select
        activity_date,
        new_users,
        deleted_users,
        sum(new_users - deleted_users) over (
            order by activity_date rows between unbounded preceding and current row
        ) as total_users
    from daily
)

select * from final
