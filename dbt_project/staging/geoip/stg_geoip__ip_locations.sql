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
{%- set columns = get_ip_locations_columns() %}
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
        {{ columns | reject('equalto', 'client_ip') | join(',\n        ') }},
        coalesce(
            client_ip,
            case
                when coalesce(not_found_reason, '') not in ('invalid', 'empty')
                    then {{ trim_whitespace('ip') }}
            end
        ) as client_ip
    from source
    where ip is not null
),

{% if is_incremental() -%}
candidates as (
    select
        {{ columns | join(',\n        ') }}
    from lookups
    union all
    select
        {{ columns | join(',\n        ') }}
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
        {{ columns | join(',\n        ') }}
    from ranked
    where lookup_rank = 1
)

select * from final
