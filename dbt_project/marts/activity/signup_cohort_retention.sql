-- How many of a week's signups come back in each later week. Cohort: the ISO week (starting
-- Monday, UTC) of the user's `createdTime`, every user ever landed (deleted and test users too).
-- Week N of a user: days [7N, 7N + 7) after their own signup day; a user returned in week N when
-- they logged in (user_logins) on one of those days. One row per cohort and week from 0 to the
-- last week the data reaches (the latest login day). A table, rebuilt each run.
with

signups as (
    select * from {{ ref('int_users_signed_up') }}
),

cohorts as (
    select
        user_id,
        signup_date,
        {{ week_start('signup_date') }} as cohort_week
    from signups
),

login_days as (
    select distinct
        user_id,
        {{ to_utc_date('login_at') }} as login_date
    from {{ ref('user_logins') }}
),

data_end as (
    select max(login_date) as last_day from login_days
),

returns as (
    select distinct
        cohorts.cohort_week,
        cohorts.user_id,
        {{ weeks_between('cohorts.signup_date', 'login_days.login_date') }} as weeks_since_signup
    from cohorts
    inner join login_days
        on cohorts.user_id = login_days.user_id
    where login_days.login_date >= cohorts.signup_date
),

cohort_sizes as (
    select
        cohort_week,
        count(*) as cohort_users
    from cohorts
    group by cohort_week
),

week_numbers as (
    {{ integer_series(0, weeks_between('(select min(cohorts.cohort_week) from cohorts)', '(select data_end.last_day from data_end)'), 'weeks_since_signup') }}  -- noqa: LT05
),

cohort_weeks as (
    select
        cohort_sizes.cohort_week,
        cohort_sizes.cohort_users,
        week_numbers.weeks_since_signup
    from cohort_sizes
    cross join week_numbers
    cross join data_end
    where {{ add_days('cohort_sizes.cohort_week', 'week_numbers.weeks_since_signup * 7') }} <= data_end.last_day
),

returned as (
    select
        cohort_week,
        weeks_since_signup,
        count(*) as returning_users
    from returns
    group by cohort_week, weeks_since_signup
),

final as (
    select
        cohort_weeks.cohort_week,
        cohort_weeks.weeks_since_signup,
        cohort_weeks.cohort_users,
        coalesce(returned.returning_users, 0) as returning_users,
        round(coalesce(returned.returning_users, 0) / cohort_weeks.cohort_users, 4) as retention_rate
    from cohort_weeks
    left join returned
        on
            cohort_weeks.cohort_week = returned.cohort_week
            and cohort_weeks.weeks_since_signup = returned.weeks_since_signup
)

select * from final
