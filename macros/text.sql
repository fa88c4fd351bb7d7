{#-
    `text` without leading and trailing whitespace, the same on both engines: the Unicode
    White_Space characters (tab, newline, vertical tab, form feed, carriage return, U+0085, and the
    space separators \p{Z}, e.g. U+00A0 and U+2028). Neither engine's trim() is used: BigQuery's
    TRIM removes exactly these, but DuckDB's trim leaves tabs and newlines, so an email landed as
    "ana@x.org\n" would be cleaned on one engine and not on the other (the BigQuery emulator runs
    DuckDB underneath and could not tell). Both use RE2, so one pattern means the same thing.
-#}
{% macro trim_whitespace(text) -%}
    {{ return(adapter.dispatch('trim_whitespace', 'descope_sync')(text)) }}
{%- endmacro %}

{% macro default__trim_whitespace(text) -%}
    regexp_replace({{ text }}, '^[\t\n\x0B\f\r\x{85}\p{Z}]+|[\t\n\x0B\f\r\x{85}\p{Z}]+$', '', 'g')
{%- endmacro %}

{#- A raw string: BigQuery would otherwise read \t and \p in the literal itself. -#}
{% macro bigquery__trim_whitespace(text) -%}
    regexp_replace({{ text }}, r'^[\t\n\x0B\f\r\x{85}\p{Z}]+|[\t\n\x0B\f\r\x{85}\p{Z}]+$', '')
{%- endmacro %}
