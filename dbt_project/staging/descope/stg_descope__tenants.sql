-- The tenants there are: the newest complete snapshot the tenants stream landed, i.e. the batch its
-- newest `success` row in _sync_runs names (`details.batch_id`). A tenant missing from that
-- snapshot is gone; rows of a batch without its `success` row (a failed or cut-short run) never count.
with

runs as (
    select * from {{ ref('stg_descope__sync_runs') }}
),

snapshots as (
    select
        {{ json_string('details', '$.batch_id') }} as batch_id,
        finished_at
    from runs
    where stream = 'tenants' and status = 'success'
),

newest_snapshot as (
    select batch_id
    from snapshots
    order by finished_at desc
    limit 1
),

tenants as (
    select
        tenants.*,
        {{ json_int('tenants.payload', '$.createdTime') }} as created_time_epoch
    from {{ source('descope', 'tenants') }} as tenants
    inner join newest_snapshot on tenants._batch_id = newest_snapshot.batch_id
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
