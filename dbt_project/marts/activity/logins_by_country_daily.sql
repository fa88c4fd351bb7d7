-- Successful logins per UTC day and country of the client IP (user_logins' MaxMind geolocation;
-- null country when the address was not located). A table, rebuilt each run.
with

logins as (
    select
        user_id,
        country_code,
        country_name,
        {{ to_utc_date('login_at') }} as activity_date
    from {{ ref('user_logins') }}
),

final as (
    select
        activity_date,
        country_code,
        -- one name per code and day (the MaxMind databases may name a country differently)
        max(country_name) as country_name,
        count(*) as logins,
        count(distinct user_id) as unique_users
    from logins
    group by activity_date, country_code
)

select * from final
