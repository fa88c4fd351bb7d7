{#- A Jinja list of strings as a SQL list of string literals: ['a', 'b'] -> 'a', 'b' (see sql_string). -#}
{% macro quoted_list(values) -%}
    {%- for value in values -%}
        {{ sql_string(value) }}{{ ", " if not loop.last }}
    {%- endfor -%}
{%- endmacro %}

{#-
    One Jinja value as a SQL string literal, quotes and backslashes escaped for the engine
    (DuckDB doubles a quote; BigQuery escapes it with a backslash). For values a user types in,
    e.g. vars given with --vars or through environment variables.
-#}
{% macro sql_string(value) -%}
    {{ return(adapter.dispatch('sql_string', 'descope_sync')(value)) }}
{%- endmacro %}

{% macro default__sql_string(value) -%}
    '{{ value | string | replace("'", "''") }}'
{%- endmacro %}

{% macro bigquery__sql_string(value) -%}
    '{{ value | string | replace("\\", "\\\\") | replace("'", "\\'") }}'
{%- endmacro %}
