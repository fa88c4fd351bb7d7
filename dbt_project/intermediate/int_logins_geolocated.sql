{{ config(materialized='view') }}
-- Successful logins (actions in var login_actions) of a known user with the current geolocation
-- of their client IP. A login event without a userId is no one's login: it is left out here (and so
-- from login activity); assert_no_logins_without_user warns about it. `ip` is the client address
-- the ip_locations stream parsed out of `remoteAddress` (a port or a forwarded-for list removed;
-- null when nothing parses or not looked up yet); `remote_address` keeps the raw value, the join key.
-- Country code falls back to Descope's own `geo` when the IP has no location (private ranges).
with

audit_events as (
    select * from {{ ref('stg_descope__audit_events') }}
),

ip_locations as (
    select * from {{ ref('stg_geoip__ip_locations') }}
),

logins as (
    select *
    from audit_events
    where
        action in ({{ quoted_list(var('login_actions')) }})
        and user_id is not null
),

logins_geolocated as (
    select
        logins.event_id,
        logins.user_id,
        logins.occurred_at as login_at,
        {{ to_utc_date('logins.occurred_at') }} as login_date,
        logins.action,
        logins.method,
        logins.device,
        logins.is_impersonation,
        logins.tenant_id,
        ip_locations.client_ip as ip,
        logins.remote_address,
        ip_locations.city,
        ip_locations.region,
        coalesce(ip_locations.country_code, logins.geo_country_code) as country_code,
        logins.geo_country_code as descope_country_code,
        ip_locations.country_name,
        ip_locations.latitude,
        ip_locations.longitude,
        logins._extracted_at,
        logins._dbt_built_at as _staged_at,
        ip_locations._looked_up_at as _geo_looked_up_at
    from logins
    left join ip_locations
        on logins.remote_address = ip_locations.ip
)

select * from logins_geolocated
