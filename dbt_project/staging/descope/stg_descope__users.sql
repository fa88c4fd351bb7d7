{#- append; on BigQuery a merge without unique_key (`on false`: insert only, the target unread) -#}
{{
    config(
        materialized='incremental',
        incremental_strategy=('merge' if target.type == 'bigquery' else 'append'),
        partition_by=(
            {'field': '_extracted_at', 'data_type': 'timestamp', 'granularity': 'day'}
            if target.type == 'bigquery' else none
        ),
        cluster_by=(['user_id'] if target.type == 'bigquery' else none),
    )
}}
-- One row per landed user version (duplicates included: int_users_deduplicated picks the latest).
-- Each payload is parsed once: an incremental run appends the landing rows extracted since the
-- newest staged one (minus var incremental_lookback_minutes), less those it already holds.
-- Renames Descope's camelCase fields to snake_case and types them; values are not cleaned, with
-- two exceptions the API forces: a boolean Descope left out is false (its protobuf JSON omits
-- false values), and a time outside what a timestamp holds is null (assert_user_times_convertible
-- warns about it) rather than a failed build.
{%- if is_incremental() %}
{%- set since = incremental_watermark('_extracted_at') %}
{%- endif %}
with

source as (
    select * from {{ source('descope', 'users') }}
    {% if is_incremental() -%}
    where _extracted_at > {{ since }}
    {%- endif %}
),

{% if is_incremental() -%}
-- landing rows the lookback reads again: (user_id, batch, extraction time) names a landed row
already_staged as (
    select
        user_id,
        _batch_id,
        _extracted_at
    from {{ this }}
    where _extracted_at > {{ since }}
),

new_rows as (
    select source.*
    from source
    left join already_staged
        on
            source.user_id = already_staged.user_id
            and source._batch_id = already_staged._batch_id
            and source._extracted_at = already_staged._extracted_at
    where already_staged.user_id is null
),
{%- else -%}
new_rows as (
    select * from source
),
{%- endif %}

epoch_texts as (
    select
        *,
        {{ json_string('payload', '$.createdTime') }} as created_time_raw,
        {{ json_string('payload', '$.modifiedTime') }} as modified_time_raw
    from new_rows
),

epochs as (
    select
        *,
        {{ safe_integer('created_time_raw') }} as created_time_epoch,
        {{ safe_integer('modified_time_raw') }} as modified_time_epoch
    from epoch_texts
),

renamed as (
    select
        user_id,
        {{ json_value_json('payload', '$.loginIds') }} as login_ids,
        {{ json_string('payload', '$.name') }} as display_name,
        {{ json_string('payload', '$.givenName') }} as given_name,
        {{ json_string('payload', '$.middleName') }} as middle_name,
        {{ json_string('payload', '$.familyName') }} as family_name,
        {{ json_string('payload', '$.email') }} as email,
        coalesce({{ json_bool('payload', '$.verifiedEmail') }}, false) as is_email_verified,
        {{ json_string('payload', '$.phone') }} as phone,
        coalesce({{ json_bool('payload', '$.verifiedPhone') }}, false) as is_phone_verified,
        {{ json_value_json('payload', '$.roleNames') }} as role_names,
        {{ json_value_json('payload', '$.userTenants') }} as user_tenants,
        {{ json_string('payload', '$.status') }} as status,
        {{ json_value_json('payload', '$.externalIds') }} as external_ids,
        {{ json_string('payload', '$.picture') }} as picture,
        coalesce({{ json_bool('payload', '$.test') }}, false) as is_test_user,
        coalesce({{ json_bool('payload', '$.TOTP') }}, false) as is_totp_enabled,
        coalesce({{ json_bool('payload', '$.SAML') }}, false) as is_saml_enabled,
        {{ json_value_json('payload', '$.OAuth') }} as oauth,
        coalesce({{ json_bool('payload', '$.webauthn') }}, false) as is_webauthn_enabled,
        coalesce({{ json_bool('payload', '$.password') }}, false) as is_password_set,
        {{ json_value_json('payload', '$.ssoAppIds') }} as sso_app_ids,
        coalesce({{ json_bool('payload', '$.editable') }}, false) as is_editable,
        coalesce({{ json_bool('payload', '$.SCIM') }}, false) as is_scim_provisioned,
        coalesce({{ json_bool('payload', '$.push') }}, false) as is_push_enabled,
        {{ json_value_json('payload', '$.permissions') }} as permissions,
        {{ json_value_json('payload', '$.customAttributes') }} as custom_attributes,
        {{ epoch_seconds_to_timestamp('created_time_epoch') }} as created_at,
        {{ epoch_seconds_to_timestamp('modified_time_epoch') }} as modified_at,
        created_time_raw,
        modified_time_raw,
        _batch_id,
        _extracted_at
    from epochs
)

select * from renamed
