-- Login attempts and their success rate, one row per UTC day with at least one attempt. A
-- success is an audit event whose action is in var login_actions (`LoginSucceed`), a failure one
-- in var login_failure_actions (`LoginFailed`), both from the staged audit events: user_logins
-- holds only successes, and only those with a userId. A table, rebuilt each run.
with

attempts as (
    select
        {{ to_utc_date('occurred_at') }} as activity_date,
        action in ({{ quoted_list(var('login_actions')) }}) as is_success
    from {{ ref('stg_descope__audit_events') }}
    where action in ({{ quoted_list(var('login_actions') + var('login_failure_actions')) }})
),

counts as (
    select
        activity_date,
        count(case when is_success then 1 end) as succeeded_logins,
        count(case when not is_success then 1 end) as failed_logins
    from attempts
    group by activity_date
),

final as (
    select
        activity_date,
        succeeded_logins,
        failed_logins,
        round(succeeded_logins / (succeeded_logins + failed_logins), 4) as login_success_rate
    from counts
)

select * from final
