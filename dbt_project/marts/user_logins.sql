{{
    config(
        materialized='incremental',
        unique_key='event_id',
        incremental_strategy='merge',
        on_schema_change='append_new_columns',
        partition_by=(
            {'field': 'login_date', 'data_type': 'date', 'granularity': 'day'}
            if target.type == 'bigquery' else none
        ),
        cluster_by=(['user_id'] if target.type == 'bigquery' else none),
        incremental_predicates=(
            ['DBT_INTERNAL_DEST.login_date >= ' ~ user_logins_merge_window_start()]
            if target.type == 'bigquery' else none
        ),
    )
}}
-- depends_on: {{ ref('stg_geoip__ip_locations') }}
-- One row per successful login event with its client IP and that IP's geolocation. Incremental
-- runs take the login events staged since the last build (minus a lookback; the merge is
-- idempotent) and re-merge past logins whose address was looked up since then (an address looked
-- up after its login landed, or a newer MaxMind database), within var
-- user_logins_merge_window_days of today: the merge only touches those days (on BigQuery, only
-- their partitions). Past that window a login keeps the geolocation it was merged with until a
-- --full-refresh (after loading a new MaxMind database, say).
-- On BigQuery, incremental_predicates bound the MERGE's target to the window's partitions, so a
-- login older than the window no longer matches its row there: one the run reads again (the
-- lookback, a backfill landed late) is looked up in the table instead, only on the days the new
-- logins hold (a constant, so partitions are pruned), and merged only when it is not there yet.
-- Both engines run the same SQL (DuckDB's merge has no predicate, the result is the same).
{%- if is_incremental() %}
{%- set since = incremental_watermark('_extracted_at') %}
{%- set oldest_new_login_at = min_timestamp_where(
    ref('int_logins_geolocated'), 'login_at', '_extracted_at > ' ~ since
) %}
{%- endif %}
with

{% if is_incremental() -%}
read_logins as (
    select * from {{ ref('int_logins_geolocated') }}
    where _extracted_at > {{ since }}
),

-- logins older than the window that user_logins already holds (outside the merge's reach)
merged_before_window as (
    select event_id from {{ this }}
    where
        login_date >= {{ to_utc_date(oldest_new_login_at) }}
        and login_date < {{ user_logins_merge_window_start() }}
),

new_logins as (
    select * from read_logins
    where
        login_date >= {{ user_logins_merge_window_start() }}
        or event_id not in (select merged_before_window.event_id from merged_before_window)
),

relocated_addresses as (
    select ip as remote_address
    from {{ ref('stg_geoip__ip_locations') }}
    where _looked_up_at > {{ since }}
),

-- past logins only: a new login from a relocated address is a new login already. A login of the
-- window was extracted after the window began: that bound prunes partitions of staged events.
relocated_logins as (
    select * from {{ ref('int_logins_geolocated') }}
    where
        _extracted_at >= cast({{ user_logins_merge_window_start() }} as timestamp)
        and login_date >= {{ user_logins_merge_window_start() }}
        and remote_address in (select relocated_addresses.remote_address from relocated_addresses)
        and event_id not in (select new_logins.event_id from new_logins)
),

logins as (
    select * from new_logins
    union all
    select * from relocated_logins
),
{%- else -%}
logins as (
    select * from {{ ref('int_logins_geolocated') }}
),
{%- endif %}

final as (
    select
        event_id,
        user_id,
        login_at,
        login_date,
        action,
        method,
        device,
        is_impersonation,
        tenant_id,
        ip,
        remote_address,
        city,
        region,
        country_code,
        country_name,
        latitude,
        longitude,
        _extracted_at,
        {{ dbt_built_at() }} as _dbt_built_at
    from logins
)

select * from final
