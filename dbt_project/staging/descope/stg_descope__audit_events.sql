-- One row per audit event: the same event landed twice (overlapping windows, re-runs) keeps its
-- earliest extraction. Typed fields come from the landing columns and the payload. An empty
-- `userId` is no user (protobuf JSON sends "" and omits the field alike).
with

source as (
    select * from {{ source('descope', 'audit_events') }}
),

renamed as (
    select
        event_id,
        action,
        nullif(user_id, '') as user_id,
        occurred_at,
        remote_address,
        {{ json_string('payload', '$.device') }} as device,
        {{ json_string('payload', '$.method') }} as method,
        {{ json_string('payload', '$.geo') }} as geo_country_code,
        {{ json_string('payload', '$.tenants[0]') }} as tenant_id,
        {{ json_string('payload', '$.actorId') }} as actor_id,
        {{ json_value_json('payload', '$.externalIds') }} as external_ids,
        {{ json_value_json('payload', '$.data') }} as event_data,
        coalesce({{ json_string('payload', '$.method') }} = 'Impersonate', false) as is_impersonation,
        _batch_id,
        _extracted_at
    from source
),

deduplicated as (
    select
        *,
        row_number() over (
            partition by event_id
            order by _extracted_at asc, _batch_id asc
        ) as extraction_rank
    from renamed
),

final as (
    select
        event_id,
        action,
        user_id,
        occurred_at,
        remote_address,
        device,
        method,
        geo_country_code,
        tenant_id,
        actor_id,
        external_ids,
        event_data,
        is_impersonation,
        _batch_id,
        _extracted_at
    from deduplicated
    where extraction_rank = 1
)

select * from final
