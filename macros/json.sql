{#-
    JSON access, one macro per shape of result. `col` is a JSON column (DuckDB `json`,
    BigQuery `JSON`), `path` a JSONPath such as '$.givenName' or '$.tenants[0]'. Every macro
    returns null when the path is absent or holds JSON null.
-#}

{#- Scalar as a string (a JSON string's text, a number's or boolean's literal). -#}
{% macro json_string(col, path) -%}
    {{ return(adapter.dispatch('json_string', 'descope_sync')(col, path)) }}
{%- endmacro %}

{% macro default__json_string(col, path) -%}
    json_extract_string({{ col }}, '{{ path }}')
{%- endmacro %}

{% macro duckdb__json_string(col, path) -%}
    json_extract_string({{ col }}, '{{ path }}')
{%- endmacro %}

{% macro bigquery__json_string(col, path) -%}
    json_value({{ col }}, '{{ path }}')
{%- endmacro %}

{#- Boolean; null when absent or not a boolean literal. -#}
{% macro json_bool(col, path) -%}
    {{ return(adapter.dispatch('json_bool', 'descope_sync')(col, path)) }}
{%- endmacro %}

{% macro default__json_bool(col, path) -%}
    try_cast({{ json_string(col, path) }} as boolean)
{%- endmacro %}

{% macro duckdb__json_bool(col, path) -%}
    try_cast({{ json_string(col, path) }} as boolean)
{%- endmacro %}

{% macro bigquery__json_bool(col, path) -%}
    safe_cast({{ json_string(col, path) }} as bool)
{%- endmacro %}

{#- 64-bit integer; null when absent or not an integer. -#}
{% macro json_int(col, path) -%}
    {{ return(adapter.dispatch('json_int', 'descope_sync')(col, path)) }}
{%- endmacro %}

{% macro default__json_int(col, path) -%}
    try_cast({{ json_string(col, path) }} as bigint)
{%- endmacro %}

{% macro duckdb__json_int(col, path) -%}
    try_cast({{ json_string(col, path) }} as bigint)
{%- endmacro %}

{% macro bigquery__json_int(col, path) -%}
    safe_cast({{ json_string(col, path) }} as int64)
{%- endmacro %}

{#- Double precision float. -#}
{% macro json_double(col, path) -%}
    {{ return(adapter.dispatch('json_double', 'descope_sync')(col, path)) }}
{%- endmacro %}

{% macro default__json_double(col, path) -%}
    try_cast({{ json_string(col, path) }} as double)
{%- endmacro %}

{% macro duckdb__json_double(col, path) -%}
    try_cast({{ json_string(col, path) }} as double)
{%- endmacro %}

{% macro bigquery__json_double(col, path) -%}
    safe_cast({{ json_string(col, path) }} as float64)
{%- endmacro %}

{#- A JSON sub-value kept as JSON (arrays, objects); null when absent or JSON null. -#}
{% macro json_value_json(col, path) -%}
    {{ return(adapter.dispatch('json_value_json', 'descope_sync')(col, path)) }}
{%- endmacro %}

{% macro default__json_value_json(col, path) -%}
    json_extract({{ col }}, '{{ path }}')
{%- endmacro %}

{% macro duckdb__json_value_json(col, path) -%}
    nullif(json_extract({{ col }}, '{{ path }}'), 'null'::json)
{%- endmacro %}

{% macro bigquery__json_value_json(col, path) -%}
    case
        when json_type(json_query({{ col }}, '{{ path }}')) != 'null'
            then json_query({{ col }}, '{{ path }}')
    end
{%- endmacro %}

{#- Text -> JSON (for landing columns stored as text). -#}
{% macro parse_json(col) -%}
    {{ return(adapter.dispatch('parse_json', 'descope_sync')(col)) }}
{%- endmacro %}

{% macro default__parse_json(col) -%}
    cast({{ col }} as json)
{%- endmacro %}

{% macro duckdb__parse_json(col) -%}
    cast({{ col }} as json)
{%- endmacro %}

{% macro bigquery__parse_json(col) -%}
    safe.parse_json({{ col }})
{%- endmacro %}
