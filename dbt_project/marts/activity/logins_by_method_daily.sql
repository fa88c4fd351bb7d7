-- Successful logins per UTC day and authentication method (the audit event's `method`: otp,
-- magiclink, oauth, password, ...; null when Descope sent none). A table, rebuilt each run.
with

logins as (
    select
        user_id,
        method,
        {{ to_utc_date('login_at') }} as activity_date
    from {{ ref('user_logins') }}
),

final as (
    select
        activity_date,
        method,
        count(*) as logins,
        count(distinct user_id) as unique_users
    from logins
    group by activity_date, method
)

select * from final
