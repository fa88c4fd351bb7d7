{{
    config(
        materialized='incremental',
        unique_key='user_id',
        incremental_strategy='merge',
        cluster_by=(['user_id'] if target.type == 'bigquery' else none),
    )
}}
-- Login activity per user over all landed history: first and last login, where the last login
-- came from, and how many logins. Impersonation (an admin logging in as the user) is not the
-- user's activity and is excluded. Same-time logins are ordered by event_id (highest wins).
-- An incremental run recomputes only the users with something new since the newest input it holds
-- (minus var incremental_lookback_minutes): a login merged into user_logins, or a newer
-- geolocation of the raw address of their last login. Their activity is recomputed from all their
-- logins in user_logins (on BigQuery clustered by user_id).
{%- if is_incremental() %}
{%- set since = incremental_watermark(
    'greatest(_logins_extracted_at, coalesce(_last_login_geo_looked_up_at, _logins_extracted_at))'
) %}
{%- endif %}
with

ip_locations as (
    select * from {{ ref('stg_geoip__ip_locations') }}
),

{% if is_incremental() -%}
-- logins merged since: new ones, within var user_logins_merge_window_days like every merge into
-- user_logins (the bound prunes its day partitions on BigQuery)
users_with_new_logins as (
    select user_id
    from {{ ref('user_logins') }}
    where
        _extracted_at > {{ since }}
        and login_date >= {{ user_logins_merge_window_start() }}
),

users_with_relocated_last_login as (
    select current_activity.user_id
    from {{ this }} as current_activity
    inner join ip_locations
        on current_activity.last_login_remote_address = ip_locations.ip
    where ip_locations._looked_up_at > {{ since }}
),

users_to_refresh as (
    select user_id from users_with_new_logins
    union distinct
    select user_id from users_with_relocated_last_login
),
{% endif -%}

users_logins as (
    select * from {{ ref('user_logins') }}
    where not is_impersonation and user_id is not null
),

logins as (
    select * from users_logins
    {% if is_incremental() -%}
    where user_id in (select users_to_refresh.user_id from users_to_refresh)
    {%- endif %}
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
        min(login_at) as first_login_at,
        max(login_at) as last_login_at,
        count(*) as login_count,
        max(_extracted_at) as _logins_extracted_at
    from logins
    group by user_id
),

last_logins as (
    select
        ranked.user_id,
        ranked.ip as last_login_ip,
        ranked.remote_address as last_login_remote_address,
        ranked.city as last_login_city,
        ranked.region as last_login_region,
        ranked.country_code as last_login_country,
        ranked.country_name as last_login_country_name,
        ip_locations._looked_up_at as _last_login_geo_looked_up_at
    from ranked
    left join ip_locations
        on ranked.remote_address = ip_locations.ip
    where ranked.recency_rank = 1
),

final as (
    select
        per_user.user_id,
        per_user.first_login_at,
        per_user.last_login_at,
        last_logins.last_login_ip,
        last_logins.last_login_remote_address,
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
