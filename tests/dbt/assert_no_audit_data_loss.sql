-- Errors while audit events were lost for good and nobody acknowledged it: a `data_loss` row in
-- _sync_runs (an interval older than Descope's audit retention that was never read) finished after
-- var acknowledge_audit_data_loss_through (env DESCOPE_ACKNOWLEDGE_AUDIT_DATA_LOSS_THROUGH; empty:
-- nothing acknowledged). Each row says what was lost and how to acknowledge it.
-- It runs after the marts (the refs below), so a failure skips nothing: the marts are built with
-- what was landed, and the build still fails until someone has looked.
-- depends_on: {{ ref('users_clean') }}
-- depends_on: {{ ref('user_logins') }}
{{ config(severity='error') }}
{%- set acknowledged_through = "nullif(" ~ sql_string(audit_data_loss_acknowledged_through()) ~ ", '')" %}
{%- set acknowledged_at = safe_timestamp(acknowledged_through) %}

with

sync_runs as (
    select * from {{ ref('stg_descope__sync_runs') }}
),

data_loss_runs as (
    select
        run_id,
        stream,
        cursor_from,
        cursor_to,
        finished_at,
        coalesce(cast(finished_at as {{ dbt.type_string() }}), '?') as finished_at_text
    from sync_runs
    where status = 'data_loss'
),

unacknowledged as (
    select *
    from data_loss_runs
    -- acknowledged: finished at or before var acknowledge_audit_data_loss_through (null when empty)
    where not coalesce(finished_at <= {{ acknowledged_at }}, false)
),

final as (
    select
        run_id,
        stream,
        cursor_from,
        cursor_to,
        finished_at,
        concat(
            stream, ': events lost for good, never read between ',
            coalesce(cast(cursor_from as {{ dbt.type_string() }}), '?'), ' and ',
            coalesce(cast(cursor_to as {{ dbt.type_string() }}), '?'),
            ' (older than the {{ var("audit_retention_days") }}-day audit retention; run ',
            coalesce(run_id, '?'), ' recorded it at ', finished_at_text, '). ',
            case
                when {{ acknowledged_through }} is not null and {{ acknowledged_at }} is null
                    then concat(
                        'var acknowledge_audit_data_loss_through is not a timestamp (',
                        {{ acknowledged_through }}, '). '
                    )
                else ''
            end,
            'Once you have looked, acknowledge it: dbt build --vars ',
            {{ sql_string("'{acknowledge_audit_data_loss_through: \"") }},
            finished_at_text,
            {{ sql_string("\"}' or DESCOPE_ACKNOWLEDGE_AUDIT_DATA_LOSS_THROUGH='") }},
            finished_at_text, {{ sql_string("'") }}
        ) as problem
    from unacknowledged
)

select * from final
