-- Every tenants snapshot the tenants stream landed, typed: one row per tenant and batch (a run lands
-- the whole list as one batch). Which snapshot is current is int_tenants_current's rule.
with

tenants as (
    select
        *,
        {{ json_int('payload', '$.createdTime') }} as created_time_epoch
    from {{ source('descope', 'tenants') }}
),

final as (
    select
        tenant_id,
        name as tenant_name,
        {{ json_value_json('payload', '$.selfProvisioningDomains') }} as self_provisioning_domains,
        {{ json_value_json('payload', '$.customAttributes') }} as custom_attributes,
        {{ epoch_seconds_to_timestamp('created_time_epoch') }} as created_at,
        _batch_id,
        _extracted_at
    from tenants
)

select * from final
