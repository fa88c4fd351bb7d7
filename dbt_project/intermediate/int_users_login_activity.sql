-- Login activity per user over all landed history: first and last login, where the last login
-- came from, and how many logins. Impersonation (an admin logging in as the user) is not the
-- user's activity and is excluded. Same-time logins are ordered by event_id (highest wins).
with

logins as (
    select * from {{ ref('int_logins_geolocated') }}
    where not is_impersonation and user_id is not null
),

ranked as (
    select
        *,
        row_number() over (
            partition by user_id
            order by login_at desc, event_id desc
        ) as recency_rank
    from logins
),

per_user as (
    select
        user_id,
        min(login_at) as first_login_time,
        max(login_at) as last_login_time,
        count(*) as login_count,
        max(_extracted_at) as _logins_extracted_at
    from logins
    group by user_id
),

last_logins as (
    select
        user_id,
        ip as last_login_ip,
        city as last_login_city,
        region as last_login_region,
        country_code as last_login_country,
        country_name as last_login_country_name,
        _geo_looked_up_at as _last_login_geo_looked_up_at
    from ranked
    where recency_rank = 1
),

final as (
    select
        per_user.user_id,
        per_user.first_login_time,
        per_user.last_login_time,
        last_logins.last_login_ip,
        last_logins.last_login_city,
        last_logins.last_login_region,
        last_logins.last_login_country,
        last_logins.last_login_country_name,
        per_user.login_count,
        per_user._logins_extracted_at,
        last_logins._last_login_geo_looked_up_at
    from per_user
    inner join last_logins
        on per_user.user_id = last_logins.user_id
)

select * from final
