-- Warns when the audit cursor is older than Descope's audit retention (var audit_retention_days):
-- unless the extractor runs today, events before the retention edge will be lost for good.
-- The cursor is the greatest cursor_to of the audit rows that count toward it
-- (stg_descope__sync_runs.is_cursor_row, the rule of contract.cursor_sql).
{{ config(severity='warn') }}

with

sync_runs as (
    select * from {{ ref('stg_descope__sync_runs') }}
),

audit_cursor as (
    select max(cursor_to) as cursor_to
    from sync_runs
    where stream = 'audit_events' and is_cursor_row
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
