{#-
    Calendar helpers for the activity marts (dbt_project/marts/activity). Days are UTC dates;
    weeks start on Monday (ISO), on both engines.
-#}

{#- `date_expr` plus `days` days (an integer expression), a date. -#}
{% macro add_days(date_expr, days) -%}
    {{ return(adapter.dispatch('add_days', 'descope_sync')(date_expr, days)) }}
{%- endmacro %}

{% macro default__add_days(date_expr, days) -%}
    cast({{ date_expr }} + cast({{ days }} as integer) as date)
{%- endmacro %}

{% macro bigquery__add_days(date_expr, days) -%}
    date_add({{ date_expr }}, interval cast({{ days }} as int64) day)
{%- endmacro %}

{#- The Monday that starts the ISO week of a date. -#}
{% macro week_start(date_expr) -%}
    {{ return(adapter.dispatch('week_start', 'descope_sync')(date_expr)) }}
{%- endmacro %}

{#- DuckDB's date_trunc('week') is ISO (Monday) and returns a timestamp. -#}
{% macro default__week_start(date_expr) -%}
    cast(date_trunc('week', {{ date_expr }}) as date)
{%- endmacro %}

{#-
    BigQuery's plain `week` starts on Sunday; date_trunc(d, isoweek) would do, but the emulator
    rejects it: whole weeks counted from Monday 1970-01-05.
-#}
{% macro bigquery__week_start(date_expr) -%}
    date_add(
        date '1970-01-05',
        interval cast(floor(date_diff({{ date_expr }}, date '1970-01-05', day) / 7) * 7 as int64) day
    )
{%- endmacro %}

{#-
    One row per date from `start_date` to `end_date` (both included; date expressions that may be
    scalar subqueries), in a column named `column`: a full select statement.
-#}
{% macro date_series(start_date, end_date, column) -%}
    {{ return(adapter.dispatch('date_series', 'descope_sync')(start_date, end_date, column)) }}
{%- endmacro %}

{% macro default__date_series(start_date, end_date, column) -%}
    select cast(series_day as date) as {{ column }}
    from unnest(generate_series(
        cast({{ start_date }} as timestamp), cast({{ end_date }} as timestamp), interval 1 day
    )) as series_rows (series_day)
{%- endmacro %}

{% macro bigquery__date_series(start_date, end_date, column) -%}
    select series_day as {{ column }}
    from unnest(generate_date_array({{ start_date }}, {{ end_date }})) as series_day
{%- endmacro %}

{#- One row per integer from `low` to `high` (both included; may be scalar subqueries), in `column`. -#}
{% macro integer_series(low, high, column) -%}
    {{ return(adapter.dispatch('integer_series', 'descope_sync')(low, high, column)) }}
{%- endmacro %}

{% macro default__integer_series(low, high, column) -%}
    select cast(series_value as integer) as {{ column }}
    from unnest(generate_series(cast({{ low }} as bigint), cast({{ high }} as bigint))) as series_rows (series_value)
{%- endmacro %}

{% macro bigquery__integer_series(low, high, column) -%}
    select series_value as {{ column }}
    from unnest(generate_array({{ low }}, {{ high }})) as series_value
{%- endmacro %}

{#- Whole weeks from date `from_date` to date `to_date` (floor; negative when to_date is earlier). -#}
{% macro weeks_between(from_date, to_date) -%}
    cast(floor({{ dbt.datediff(from_date, to_date, 'day') }} / 7) as {{ dbt.type_int() }})
{%- endmacro %}
