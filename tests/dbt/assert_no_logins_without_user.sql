-- Warns about successful login events (var login_actions) without a userId: no user logged in as
-- far as the marts can tell, so they are in neither user_logins nor any login activity. Says how
-- many and names a few event ids.
{{ config(severity='warn', fail_calc='coalesce(sum(n_events), 0)') }}

with

audit_events as (
    select * from {{ ref('stg_descope__audit_events') }}
),

logins_without_user as (
    select
        event_id,
        occurred_at,
        row_number() over (order by occurred_at desc, event_id asc) as recency_rank
    from audit_events
    where
        action in ({{ quoted_list(var('login_actions')) }})
        and user_id is null
),

final as (
    select
        count(*) as n_events,
        max(occurred_at) as latest_occurred_at,
        string_agg(case when recency_rank <= 5 then event_id end, ', ') as example_event_ids
    from logins_without_user
    having count(*) > 0
)

select * from final
