{#- append; on BigQuery a merge without unique_key (`on false`: insert only, the target unread) -#}
{{
    config(
        materialized='incremental',
        incremental_strategy=('merge' if target.type == 'bigquery' else 'append'),
        partition_by=(
            {'field': '_extracted_at', 'data_type': 'timestamp', 'granularity': 'day'}
            if target.type == 'bigquery' else none
        ),
        cluster_by=(['action', 'user_id'] if target.type == 'bigquery' else none),
        on_schema_change='append_new_columns',
    )
}}
-- One row per audit event: the same event landed twice (overlapping windows, re-runs) keeps its
-- earliest extraction. Typed fields come from the landing columns and the payload. An empty
-- `userId` is no user (protobuf JSON sends "" and omits the field alike).
-- Each payload is parsed once: an incremental run appends the events first landed since the newest
-- staged extraction (minus var incremental_lookback_minutes). An event landed again later (an
-- overlapping audit window) is already staged with its earliest extraction and is left out; that
-- copy occurred at the same time (occurred_at is never null in landing), which bounds the lookup.
{%- if is_incremental() %}
{%- set since = incremental_watermark('_extracted_at') %}
{%- set occurred_since = min_timestamp_where(
    source('descope', 'audit_events'), 'occurred_at', '_extracted_at > ' ~ since
) %}
{%- endif %}
with

source as (
    select * from {{ source('descope', 'audit_events') }}
    {% if is_incremental() -%}
    where _extracted_at > {{ since }}
    {%- endif %}
),

earliest_extractions as (
    select
        *,
        row_number() over (
            partition by event_id
            order by _extracted_at asc, _batch_id asc
        ) as extraction_rank
    from source
),

{% if is_incremental() -%}
already_staged as (
    select event_id
    from {{ this }}
    where occurred_at >= {{ occurred_since }}
),

new_events as (
    select earliest_extractions.*
    from earliest_extractions
    left join already_staged
        on earliest_extractions.event_id = already_staged.event_id
    where
        earliest_extractions.extraction_rank = 1
        and already_staged.event_id is null
),
{%- else -%}
new_events as (
    select *
    from earliest_extractions
    where extraction_rank = 1
),
{%- endif %}

final as (
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
        _extracted_at,
        {{ dbt_built_at() }} as _dbt_built_at
    from new_events
)

select * from final
