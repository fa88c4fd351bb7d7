{{
    config(
        materialized='incremental',
        unique_key='user_id',
        incremental_strategy='merge',
        on_schema_change='fail',
        cluster_by=(['user_id'] if target.type == 'bigquery' else none),
    )
}}
-- depends_on: {{ ref('stg_descope__audit_events') }}
-- Login activity per user over all landed history: first and last login, where the last login
-- came from (the current geolocation of its address), and how many logins. Impersonation (an admin
-- logging in as the user) is not the user's activity and is excluded. Same-time logins are ordered
-- by event_id (highest wins).
-- An incremental run adds what is new to each affected user's row instead of recounting history:
-- - the logins staged since the newest one it has counted (each event is staged once, by one
--   build, which stamps it: `_staged_at`; counts add up, first and last logins take the min and
--   the max, the last login is the latest of the old one and the new ones);
-- - a newer geolocation of the raw address of a user's last login (since the newest input it holds,
--   minus var incremental_lookback_minutes): the location columns are looked up again.
-- The result is what a count from scratch gives (tests/transform compares them) and
-- assert_login_counts_add_up checks the counts against user_logins on every build.
{%- if is_incremental() %}
{%- set staged_since = incremental_watermark('_logins_staged_through', lookback_minutes=0) %}
{#- a constant bound on the staged events' partitions: the newly staged were extracted since -#}
{%- set extracted_since = min_timestamp_where(
    ref('stg_descope__audit_events'), '_extracted_at', '_dbt_built_at > ' ~ staged_since
) %}
{%- set geo_since = incremental_watermark(
    'greatest(_logins_extracted_at, coalesce(_last_login_geo_looked_up_at, _logins_extracted_at))'
) %}
{%- endif %}
with

ip_locations as (
    select * from {{ ref('stg_geoip__ip_locations') }}
),

logins as (
    select * from {{ ref('int_logins_geolocated') }}
    {% if is_incremental() -%}
    where
        not is_impersonation
        and _extracted_at >= {{ extracted_since }}
        and _staged_at > {{ staged_since }}
    {%- else -%}
    where not is_impersonation
    {%- endif %}
),

{% if is_incremental() -%}
users_with_new_logins as (
    select distinct user_id from logins
),

users_with_relocated_last_login as (
    select current_activity.user_id
    from {{ this }} as current_activity
    inner join ip_locations
        on current_activity.last_login_remote_address = ip_locations.ip
    where ip_locations._looked_up_at > {{ geo_since }}
),

previous_activity as (
    select * from {{ this }}
    where
        user_id in (select users_with_new_logins.user_id from users_with_new_logins)
        or user_id in (select users_with_relocated_last_login.user_id from users_with_relocated_last_login)
),
{% endif -%}

counted as (
    select
        user_id,
        min(login_at) as first_login_at,
        max(login_at) as last_login_at,
        count(*) as login_count,
        max(_extracted_at) as _logins_extracted_at,
        max(_staged_at) as _logins_staged_through
    from logins
    group by user_id
    {%- if is_incremental() %}
    union all
    select
        user_id,
        first_login_at,
        last_login_at,
        login_count,
        _logins_extracted_at,
        _logins_staged_through
    from previous_activity
    {%- endif %}
),

per_user as (
    select
        user_id,
        min(first_login_at) as first_login_at,
        max(last_login_at) as last_login_at,
        cast(sum(login_count) as {{ dbt.type_bigint() }}) as login_count,
        max(_logins_extracted_at) as _logins_extracted_at,
        max(_logins_staged_through) as _logins_staged_through
    from counted
    group by user_id
),

last_login_candidates as (
    select
        user_id,
        login_at,
        event_id,
        remote_address,
        descope_country_code
    from logins
    {%- if is_incremental() %}
    union all
    select
        user_id,
        last_login_at as login_at,
        _last_login_event_id as event_id,
        last_login_remote_address as remote_address,
        _last_login_descope_country_code as descope_country_code
    from previous_activity
    {%- endif %}
),

ranked as (
    select
        *,
        row_number() over (
            partition by user_id
            order by login_at desc, event_id desc
        ) as recency_rank
    from last_login_candidates
),

-- located as int_logins_geolocated locates a login: the address's current geolocation, Descope's
-- own country code when it has none
last_logins as (
    select
        ranked.user_id,
        ranked.event_id as _last_login_event_id,
        ip_locations.client_ip as last_login_ip,
        ranked.remote_address as last_login_remote_address,
        ip_locations.city as last_login_city,
        ip_locations.region as last_login_region,
        ip_locations.country_name as last_login_country_name,
        ranked.descope_country_code as _last_login_descope_country_code,
        ip_locations._looked_up_at as _last_login_geo_looked_up_at,
        coalesce(ip_locations.country_code, ranked.descope_country_code) as last_login_country
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
        last_logins._last_login_geo_looked_up_at,
        last_logins._last_login_event_id,
        last_logins._last_login_descope_country_code,
        per_user._logins_staged_through
    from per_user
    inner join last_logins
        on per_user.user_id = last_logins.user_id
)

select * from final
