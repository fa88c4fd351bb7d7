-- The latest version of each user: newest Descope modifiedTime first (versions without one rank
-- last), then the newest extraction, then the newest batch. Identical rows landed twice in one
-- batch collapse to one.
with

user_versions as (
    select * from {{ ref('stg_descope__users') }}
),

ranked as (
    select
        *,
        max(_extracted_at) over (partition by user_id) as _latest_extracted_at,
        row_number() over (
            partition by user_id
            order by modified_time desc nulls last, _extracted_at desc, _batch_id desc
        ) as version_rank
    from user_versions
),

latest_versions as (
    select
        user_id,
        login_ids,
        display_name,
        given_name,
        middle_name,
        family_name,
        email,
        verified_email,
        phone,
        verified_phone,
        role_names,
        user_tenants,
        status,
        external_ids,
        picture,
        test,
        totp,
        saml,
        oauth,
        webauthn,
        password,
        sso_app_ids,
        editable,
        scim,
        push,
        permissions,
        custom_attributes,
        created_time,
        modified_time,
        _batch_id,
        _extracted_at,
        _latest_extracted_at
    from ranked
    where version_rank = 1
)

select * from latest_versions
