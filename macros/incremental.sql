{#-
    Incremental models read only what landed since their last build: the watermark is the newest
    value of a column in the model's own table ({{ this }}), moved back by var
    incremental_lookback_minutes (rows committed while the previous build was reading; every
    incremental model is idempotent, so reading them twice is harmless).

    The watermark is fetched before the model's SQL is compiled and written into it as a literal
    (`cast('2024-05-01 12:00:00' as timestamp)`): BigQuery prunes partitions only on constant filters
    (a subquery would scan every partition), and DuckDB skips row groups by their min/max on it.
    In a unit test `this` is a fixture, not a table: the watermark is then the same value as a
    scalar subquery over the fixture.
-#}

{#- The lower bound (exclusive) of what an incremental run reads: a SQL timestamp expression. -#}
{% macro incremental_watermark(expression, lookback_minutes=none) -%}
    {%- set minutes = var('incremental_lookback_minutes') if lookback_minutes is none else lookback_minutes -%}
    {%- if (this | string).startswith('__dbt__cte__') -%}
        {{- return('(select ' ~ minus_minutes('max(' ~ expression ~ ')', minutes) ~ ' from ' ~ this ~ ')') -}}
    {%- endif -%}
    {{- return(timestamp_literal(query_scalar('select max(' ~ expression ~ ') from ' ~ this), minutes)) -}}
{%- endmacro %}

{#-
    The smallest value of `expression` in `relation` where `condition` holds, moved back by
    `minus_minutes`, as a timestamp literal (for a second bound, e.g. the event times of the rows
    an incremental run reads); 9999-12-31 when no row holds (nothing to look for). In a unit
    test, a scalar subquery.
-#}
{% macro min_timestamp_where(relation, expression, condition, minus_minutes_=0) -%}
    {%- set sql = 'select min(' ~ expression ~ ') from ' ~ relation ~ ' where ' ~ condition -%}
    {%- if (this | string).startswith('__dbt__cte__') -%}
        {{- return('(' ~ sql ~ ')') -}}
    {%- endif -%}
    {%- set value = query_scalar(sql) -%}
    {%- if value is none -%}
        {{- return("cast('9999-12-31 00:00:00' as timestamp)") -}}
    {%- endif -%}
    {{- return(timestamp_literal(value, minus_minutes_)) -}}
{%- endmacro %}

{#- The first value of a one-row query; none while dbt parses (nothing runs then). -#}
{% macro query_scalar(sql) -%}
    {%- if not execute -%}
        {{- return(none) -}}
    {%- endif -%}
    {%- set result = run_query(sql) -%}
    {{- return(result.columns[0].values()[0] if result.rows | length > 0 else none) -}}
{%- endmacro %}

{#-
    A Python datetime (UTC; naive on DuckDB, aware on BigQuery) less `minutes` as a SQL timestamp
    literal, floored to the second (a bound that reads a little more is safe: every incremental model
    is idempotent; and the BigQuery emulator misreads a literal with a fraction of a second); a null
    (an empty table) reads everything: 1900-01-01.
-#}
{% macro timestamp_literal(value, minutes=0) -%}
    {%- if value is none -%}
        {{- return("cast('1900-01-01 00:00:00' as timestamp)") -}}
    {%- endif -%}
    {%- set moved = value - modules.datetime.timedelta(minutes=minutes | int) -%}
    {{- return("cast('" ~ moved.strftime('%Y-%m-%d %H:%M:%S') ~ "' as timestamp)") -}}
{%- endmacro %}

{#-
    The first day user_logins merges into (var user_logins_merge_window_days before today, UTC):
    a constant expression, so BigQuery prunes the mart's partitions in the merge.
-#}
{% macro user_logins_merge_window_start() -%}
    {{ to_utc_date(dbt.dateadd('day', -1 * (var('user_logins_merge_window_days') | int), utc_now())) }}
{%- endmacro %}

{#-
    The users mart's post-hook: remove the users int_users_deleted names. On BigQuery a DELETE bills
    the whole table however few rows it removes, so the statement runs only when one of them is
    still there (that check reads the user_id column alone); elsewhere it always runs.
-#}
{% macro delete_deleted_users() -%}
    {%- set deleted = ref('int_users_deleted') -%}
    {%- set delete_sql = 'delete from ' ~ this ~ ' where user_id in (select user_id from ' ~ deleted ~ ')' -%}
    {%- if target.type == 'bigquery' and execute -%}
        {%- set still_there = query_scalar(
            'select count(*) from ' ~ this ~ ' where user_id in (select user_id from ' ~ deleted ~ ')'
        ) -%}
        {%- if not still_there -%}
            {{- return('select 1 as nothing_to_delete') -}}
        {%- endif -%}
    {%- endif -%}
    {{- return(delete_sql) -}}
{%- endmacro %}

{#-
    When this dbt invocation started (UTC, to the second), a constant: the `_dbt_built_at` of every row
    an incremental event table writes in this build (see get_where_subquery).
-#}
{% macro dbt_built_at() -%}
    cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S") }}' as timestamp)
{%- endmacro %}

{#-
    dbt calls this to apply a data test's `where` config. Two placeholders scope a test on a large
    event table to what the latest build wrote, so an incremental build's tests cost what changed:
    `__relation__` is the tested table, `__last_build__` its rows with the newest `_dbt_built_at`
    (after a --full-refresh, every row). A key test is scoped by key, so a new row that repeats an old
    key is still caught: `event_id in (select event_id from __relation__ where __last_build__)`.
-#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where') -%}
    {%- if not where -%}
        {{- return(relation) -}}
    {%- endif -%}
    {%- set last_build = '_dbt_built_at = (select max(_dbt_built_at) from ' ~ relation ~ ')' -%}
    {%- set where = where | replace('__last_build__', last_build) | replace('__relation__', relation | string) -%}
    {{- return('(select * from ' ~ relation ~ ' where ' ~ where ~ ') as dbt_subquery') -}}
{%- endmacro %}
