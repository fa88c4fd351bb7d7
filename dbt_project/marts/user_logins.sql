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
    )
}}
-- depends_on: {{ ref('stg_geoip__ip_locations') }}
-- One row per successful login event with its client IP and that IP's geolocation. Incremental
-- runs take the login events extracted since the last build (minus a lookback; the merge is
-- idempotent) and re-merge past logins whose address was looked up since then (an address looked
-- up after its login landed, or a newer MaxMind database).
with

logins as (
    select * from {{ ref('int_logins_geolocated') }}
),

{% if is_incremental() %}
watermark as (
    select
        {{ minus_minutes(
            "coalesce(max(_extracted_at), cast('1900-01-01 00:00:00' as timestamp))",
            var("incremental_lookback_minutes")
        ) }} as since
    from {{ this }}
),

relocated_addresses as (
    select ip as remote_address
    from {{ ref('stg_geoip__ip_locations') }}
    where _looked_up_at > (select watermark.since from watermark)
),
{% endif %}

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
        _extracted_at
    from logins
    {% if is_incremental() -%}
    where
        _extracted_at > (select watermark.since from watermark)
        or remote_address in (select relocated_addresses.remote_address from relocated_addresses)
    {%- endif %}
)

select * from final
