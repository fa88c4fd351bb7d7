{#-
    Time conventions (docs/design.md): every timestamp is UTC. DuckDB stores naive `timestamp`
    values that mean UTC; BigQuery stores `TIMESTAMP`. "Now" always comes from utc_now().
    `default__` is DuckDB's (the local target); `bigquery__` is there only where BigQuery differs.
    Differences of dates and times are dbt.datediff's.
-#}

{#- The current instant, UTC (naive timestamp on DuckDB). -#}
{% macro utc_now() -%}
    {{ return(adapter.dispatch('utc_now', 'descope_sync')()) }}
{%- endmacro %}

{% macro default__utc_now() -%}
    cast(timezone('UTC', current_timestamp) as timestamp)
{%- endmacro %}

{% macro bigquery__utc_now() -%}
    current_timestamp()
{%- endmacro %}

{#-
    Epoch seconds (integer) -> UTC timestamp; null outside [0, 253402300799] (1970-01-01 to
    9999-12-31 23:59:59, what both engines can hold), so an absurd `createdTime` such as
    99999999999999 or a negative one becomes null instead of failing the build
    (tests/dbt/assert_user_times_convertible warns about them). `col` should be a column, not an
    expression: it is read twice.
-#}
{% macro epoch_seconds_to_timestamp(col) -%}
    {{ return(adapter.dispatch('epoch_seconds_to_timestamp', 'descope_sync')(col)) }}
{%- endmacro %}

{% macro default__epoch_seconds_to_timestamp(col) -%}
    case
        when cast({{ col }} as bigint) between 0 and 253402300799
            then make_timestamp(cast({{ col }} as bigint) * 1000000)
    end
{%- endmacro %}

{#- BigQuery's if() evaluates only the branch it returns: timestamp_seconds never sees a bad value. -#}
{% macro bigquery__epoch_seconds_to_timestamp(col) -%}
    if(
        cast({{ col }} as int64) between 0 and 253402300799,
        timestamp_seconds(cast({{ col }} as int64)),
        null
    )
{%- endmacro %}

{#- `ts` moved back by `minutes` minutes. -#}
{% macro minus_minutes(ts, minutes) -%}
    {{ return(adapter.dispatch('minus_minutes', 'descope_sync')(ts, minutes)) }}
{%- endmacro %}

{% macro default__minus_minutes(ts, minutes) -%}
    ({{ ts }} - to_minutes(cast({{ minutes }} as bigint)))
{%- endmacro %}

{% macro bigquery__minus_minutes(ts, minutes) -%}
    timestamp_sub({{ ts }}, interval {{ minutes }} minute)
{%- endmacro %}

{#- The UTC date of a timestamp. -#}
{% macro to_utc_date(ts) -%}
    {{ return(adapter.dispatch('to_utc_date', 'descope_sync')(ts)) }}
{%- endmacro %}

{% macro default__to_utc_date(ts) -%}
    cast({{ ts }} as date)
{%- endmacro %}

{% macro bigquery__to_utc_date(ts) -%}
    date({{ ts }})
{%- endmacro %}

{#- Text -> UTC timestamp; null when the text is not one ('2024-05-01 12:00:00', '2024-05-01'). -#}
{% macro safe_timestamp(text) -%}
    {{ return(adapter.dispatch('safe_timestamp', 'descope_sync')(text)) }}
{%- endmacro %}

{% macro default__safe_timestamp(text) -%}
    try_cast({{ text }} as timestamp)
{%- endmacro %}

{% macro bigquery__safe_timestamp(text) -%}
    safe_cast({{ text }} as timestamp)
{%- endmacro %}
