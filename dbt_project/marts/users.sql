{{
    config(
        materialized='incremental',
        unique_key='user_id',
        incremental_strategy='merge',
        on_schema_change='append_new_columns',
        cluster_by=(['user_id'] if target.type == 'bigquery' else none),
        post_hook=["{{ delete_deleted_users() }}"],
    )
}}
-- depends_on: {{ ref('int_users_deleted') }}
-- One row per live Descope user: the latest version of the record, as Descope sent it, with the
-- login columns computed from all landed login history. Incremental runs recompute only users with
-- something new since the last build (a new version, a new login, a newer geolocation of the last
-- login's IP: int_users_deduplicated and int_users_login_activity hold when each input last
-- changed) and merge them on user_id; the post-hook removes users deleted since.
{%- if is_incremental() %}
{%- set since = incremental_watermark('_source_extracted_at') %}
{%- endif %}
with

{% if is_incremental() -%}
users_to_refresh as (
    select user_id
    from {{ ref('int_users_deduplicated') }}
    where _latest_extracted_at > {{ since }}
    union distinct
    select user_id
    from {{ ref('int_users_login_activity') }}
    where
        _logins_extracted_at > {{ since }}
        or _last_login_geo_looked_up_at > {{ since }}
),
{% endif -%}

latest_versions as (
    select * from {{ ref('int_users_deduplicated') }}
    {% if is_incremental() -%}
    where user_id in (select users_to_refresh.user_id from users_to_refresh)
    {%- endif %}
),

login_activity as (
    select * from {{ ref('int_users_login_activity') }}
    {% if is_incremental() -%}
    where user_id in (select users_to_refresh.user_id from users_to_refresh)
    {%- endif %}
),

deleted_users as (
    select user_id from {{ ref('int_users_deleted') }}
),

live_users as (
    select latest_versions.*
    from latest_versions
    left join deleted_users
        on latest_versions.user_id = deleted_users.user_id
    where deleted_users.user_id is null
),

final as (
    select
        live_users.user_id,
        live_users.login_ids,
        live_users.display_name,
        live_users.given_name,
        live_users.middle_name,
        live_users.family_name,
        live_users.email,
        live_users.is_email_verified as verified_email,
        live_users.phone,
        live_users.is_phone_verified as verified_phone,
        live_users.role_names,
        live_users.user_tenants,
        live_users.status,
        live_users.external_ids,
        live_users.picture,
        live_users.is_test_user as test,
        live_users.is_totp_enabled as totp,
        live_users.is_saml_enabled as saml,
        live_users.oauth,
        live_users.is_webauthn_enabled as webauthn,
        live_users.is_password_set as password,
        live_users.sso_app_ids,
        live_users.is_editable as editable,
        live_users.is_scim_provisioned as scim,
        live_users.is_push_enabled as push,
        live_users.permissions,
        live_users.custom_attributes,
        live_users.created_at as created_time,
        live_users.modified_at as modified_time,
        login_activity.first_login_at as first_login_time,
        login_activity.last_login_at as last_login_time,
        login_activity.last_login_ip,
        login_activity.last_login_city,
        login_activity.last_login_region,
        login_activity.last_login_country,
        login_activity.last_login_country_name,
        coalesce(login_activity.login_count, 0) as login_count,
        -- every argument is non-null: BigQuery's greatest() is null when any argument is (DuckDB's
        -- skips nulls), and the watermark must mean the same on both engines
        greatest(
            live_users._latest_extracted_at,
            coalesce(login_activity._logins_extracted_at, live_users._latest_extracted_at),
            coalesce(login_activity._last_login_geo_looked_up_at, live_users._latest_extracted_at)
        ) as _source_extracted_at
    from live_users
    left join login_activity
        on live_users.user_id = login_activity.user_id
)

select * from final
