{{
    config(
        materialized='incremental',
        unique_key='user_id',
        incremental_strategy='merge',
        cluster_by=(['user_id'] if target.type == 'bigquery' else none),
    )
}}
-- The latest version of each user: newest Descope modifiedTime (modified_at) first (versions without one rank
-- last), then the newest extraction, then the newest batch. Identical rows landed twice in one
-- batch collapse to one.
-- An incremental run ranks the versions staged since the newest extraction it holds (minus var
-- incremental_lookback_minutes) against each of their users' current latest version (the best of
-- all older versions, by the same order) and merges the winners: no history is read again.
{%- set version_columns = [
    'user_id', 'login_ids', 'display_name', 'given_name', 'middle_name', 'family_name', 'email',
    'is_email_verified', 'phone', 'is_phone_verified', 'role_names', 'user_tenants', 'status',
    'external_ids', 'picture', 'is_test_user', 'is_totp_enabled', 'is_saml_enabled', 'oauth', 'is_webauthn_enabled', 'is_password_set',
    'sso_app_ids', 'is_editable', 'is_scim_provisioned', 'is_push_enabled', 'permissions', 'custom_attributes',
    'created_at', 'modified_at', '_batch_id', '_extracted_at',
] %}
{%- if is_incremental() %}
{%- set since = incremental_watermark('_latest_extracted_at') %}
{%- endif %}
with

user_versions as (
    select
        {{ version_columns | join(',\n        ') }},
        _extracted_at as _latest_extracted_at
    from {{ ref('stg_descope__users') }}
    {% if is_incremental() -%}
    where _extracted_at > {{ since }}
    {%- endif %}
),

{% if is_incremental() -%}
candidates as (
    select * from user_versions
    union all
    select
        {{ version_columns | join(',\n        ') }},
        _latest_extracted_at
    from {{ this }}
    where user_id in (select user_versions.user_id from user_versions)
),
{%- else -%}
candidates as (
    select * from user_versions
),
{%- endif %}

ranked as (
    select
        *,
        max(_latest_extracted_at) over (partition by user_id) as _newest_extracted_at,
        row_number() over (
            partition by user_id
            order by modified_at desc nulls last, _extracted_at desc, _batch_id desc
        ) as version_rank
    from candidates
),

latest_versions as (
    select
        {{ version_columns | join(',\n        ') }},
        _newest_extracted_at as _latest_extracted_at
    from ranked
    where version_rank = 1
)

select * from latest_versions
