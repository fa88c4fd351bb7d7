-- Warns when audit events were lost for good: the extractor recorded a `data_loss` interval
-- (its cursor was older than Descope's audit retention), or the audit cursor is now older than
-- the retention window, so the next run will lose events unless it runs today.
-- Each row says which events were lost (or are about to be).
{{ config(severity='warn') }}

with

sync_runs as (
    select * from {{ ref('stg_descope__sync_runs') }}
),

lost_intervals as (
    select
        stream,
        cursor_from,
        cursor_to,
        concat(
            'audit events lost for good: never read between ',
            coalesce(cast(cursor_from as {{ dbt.type_string() }}), '?'), ' and ',
            coalesce(cast(cursor_to as {{ dbt.type_string() }}), '?'),
            ' (older than the ', '{{ var("audit_retention_days") }}', '-day audit retention)'
        ) as problem
    from sync_runs
    where status = 'data_loss'
),

audit_cursor as (
    select max(cursor_to) as cursor_to
    from sync_runs
    where stream = 'audit_events' and status in ('success', 'partial')
),

cursor_at_risk as (
    select
        'audit_events' as stream,
        cast(null as timestamp) as cursor_from,
        cursor_to,
        concat(
            'audit events at risk: the audit cursor (',
            cast(cursor_to as {{ dbt.type_string() }}),
            ') is older than the audit retention; events before the retention edge will be lost'
        ) as problem
    from audit_cursor
    where cursor_to < {{ minus_minutes(utc_now(), var('audit_retention_days') * 24 * 60) }}
)

select * from lost_intervals
union all
select * from cursor_at_risk
