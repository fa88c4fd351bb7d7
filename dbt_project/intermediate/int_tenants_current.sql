-- The tenants there are: the newest complete snapshot the tenants stream landed, i.e. the batch its
-- newest `success` row in _sync_runs names (`details.batch_id`). A tenant missing from that
-- snapshot is gone; rows of a batch without its `success` row (a failed or cut-short run) never count.
with

runs as (
    select * from {{ ref('stg_descope__sync_runs') }}
),

tenants as (
    select * from {{ ref('stg_descope__tenants') }}
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

final as (
    select
        tenants.tenant_id,
        tenants.tenant_name,
        tenants.self_provisioning_domains,
        tenants.custom_attributes,
        tenants.created_at,
        tenants._batch_id,
        tenants._extracted_at
    from tenants
    inner join newest_snapshot on tenants._batch_id = newest_snapshot.batch_id
)

select * from final
