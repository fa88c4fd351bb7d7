-- Warns when the audit cursor is older than Descope's audit retention (var audit_retention_days):
-- unless the extractor runs today, events before the retention edge will be lost for good.
-- The cursor is the greatest cursor_to of the audit rows that prove how far the stream got
-- (status success, partial, incomplete or data_loss; extract/descope_sync/contract.py CURSOR_STATUSES)
-- and finished after the stream's latest `reset` row (contract.cursor_sql).
{{ config(severity='warn') }}

with

sync_runs as (
    select * from {{ ref('stg_descope__sync_runs') }}
),

latest_reset as (
    select max(finished_at) as finished_at
    from sync_runs
    where stream = 'audit_events' and status = 'reset'
),

audit_cursor as (
    select max(sync_runs.cursor_to) as cursor_to
    from sync_runs
    cross join latest_reset
    where
        sync_runs.stream = 'audit_events'
        and sync_runs.status in ('success', 'partial', 'incomplete', 'data_loss')
        and (
            latest_reset.finished_at is null
            or sync_runs.finished_at is null
            or sync_runs.finished_at > latest_reset.finished_at
        )
),

final as (
    select
        cursor_to,
        concat(
            'audit events at risk: the audit cursor (',
            cast(cursor_to as {{ dbt.type_string() }}),
            ') is older than the {{ var("audit_retention_days") }}-day audit retention; ',
            'events before the retention edge will be lost unless the extractor runs now'
        ) as problem
    from audit_cursor
    where cursor_to < {{ minus_minutes(utc_now(), var('audit_retention_days') * 24 * 60) }}
)

select * from final
