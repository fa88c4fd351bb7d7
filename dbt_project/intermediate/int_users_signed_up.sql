{{ config(materialized='view') }}
-- The UTC day Descope created each user (`createdTime`): every user ever landed, deleted since or
-- not, test users included; a user without a usable creation time has no signup. The signups of
-- users_daily and signup_cohort_retention.
with

latest_versions as (
    select * from {{ ref('int_users_deduplicated') }}
),

final as (
    select
        user_id,
        {{ to_utc_date('created_at') }} as signup_date
    from latest_versions
    where created_at is not null
)

select * from final
