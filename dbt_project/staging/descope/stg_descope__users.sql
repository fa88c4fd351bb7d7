-- One row per landed user version (duplicates included: int_users_deduplicated picks the latest).
-- Renames Descope's camelCase fields to snake_case and types them; values are not cleaned.
with

source as (
    select * from {{ source('descope', 'users') }}
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
        {{ json_bool('payload', '$.verifiedEmail') }} as verified_email,
        {{ json_string('payload', '$.phone') }} as phone,
        {{ json_bool('payload', '$.verifiedPhone') }} as verified_phone,
        {{ json_value_json('payload', '$.roleNames') }} as role_names,
        {{ json_value_json('payload', '$.userTenants') }} as user_tenants,
        {{ json_string('payload', '$.status') }} as status,
        {{ json_value_json('payload', '$.externalIds') }} as external_ids,
        {{ json_string('payload', '$.picture') }} as picture,
        {{ json_bool('payload', '$.test') }} as test,
        {{ json_bool('payload', '$.TOTP') }} as totp,
        {{ json_bool('payload', '$.SAML') }} as saml,
        {{ json_value_json('payload', '$.OAuth') }} as oauth,
        {{ json_bool('payload', '$.webauthn') }} as webauthn,
        {{ json_bool('payload', '$.password') }} as password,
        {{ json_value_json('payload', '$.ssoAppIds') }} as sso_app_ids,
        {{ json_bool('payload', '$.editable') }} as editable,
        {{ json_bool('payload', '$.SCIM') }} as scim,
        {{ json_bool('payload', '$.push') }} as push,
        {{ json_value_json('payload', '$.permissions') }} as permissions,
        {{ json_value_json('payload', '$.customAttributes') }} as custom_attributes,
        {{ epoch_seconds_to_timestamp(json_int('payload', '$.createdTime')) }} as created_time,
        {{ epoch_seconds_to_timestamp(json_int('payload', '$.modifiedTime')) }} as modified_time,
        _batch_id,
        _extracted_at
    from source
)

select * from renamed
