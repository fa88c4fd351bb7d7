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
