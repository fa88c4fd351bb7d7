{{
    config(
        materialized='incremental',
        unique_key='ip',
        incremental_strategy='merge',
        cluster_by=(['ip'] if target.type == 'bigquery' else none),
    )
}}
-- The current geolocation of each IP: the lookup from the newest database build, then the newest
-- lookup. Older lookups stay in landing (a newer database can be applied without losing history).
-- `ip` is the raw remoteAddress (the join key); `client_ip` the address the lookup used. Lookups
-- landed before the extractor wrote client_ip parsed the trimmed string as one address, so
-- for them it is that string when the lookup did not call it invalid or empty.
-- An incremental run ranks the lookups landed since the newest one it holds (minus var
-- incremental_lookback_minutes) against the current row of their IPs, and merges the winners.
-- A lookup without an ip (no address to join on) is left out.
{%- if is_incremental() %}
{%- set since = incremental_watermark('_looked_up_at') %}
{%- endif %}
with

source as (
    select * from {{ source('geoip', 'ip_locations') }}
    {% if is_incremental() -%}
    where _looked_up_at > {{ since }}
    {%- endif %}
),

lookups as (
    select
        ip,
        coalesce(
            client_ip,
            case
                when coalesce(not_found_reason, '') not in ('invalid', 'empty')
                    then {{ trim_whitespace('ip') }}
            end
        ) as client_ip,
        is_found,
        not_found_reason,
        city,
        region,
        region_code,
        country_code,
        country_name,
        continent_code,
        latitude,
        longitude,
        accuracy_radius_km,
        time_zone,
        database_type,
        database_built_at,
        _looked_up_at,
        _batch_id
    from source
    where ip is not null
),

{% if is_incremental() -%}
candidates as (
    select * from lookups
    union all
    select
        ip,
        client_ip,
        is_found,
        not_found_reason,
        city,
        region,
        region_code,
        country_code,
        country_name,
        continent_code,
        latitude,
        longitude,
        accuracy_radius_km,
        time_zone,
        database_type,
        database_built_at,
        _looked_up_at,
        _batch_id
    from {{ this }}
    where ip in (select lookups.ip from lookups)
),
{%- else -%}
candidates as (
    select * from lookups
),
{%- endif %}

ranked as (
    select
        *,
        row_number() over (
            partition by ip
            order by database_built_at desc nulls last, _looked_up_at desc, _batch_id desc
        ) as lookup_rank
    from candidates
),

final as (
    select
        ip,
        client_ip,
        is_found,
        not_found_reason,
        city,
        region,
        region_code,
        country_code,
        country_name,
        continent_code,
        latitude,
        longitude,
        accuracy_radius_km,
        time_zone,
        database_type,
        database_built_at,
        _looked_up_at,
        _batch_id
    from ranked
    where lookup_rank = 1
)

select * from final
