{#-
    JSON access, one macro per shape of result. `default__` is DuckDB's (the local target);
    `bigquery__` is there only where BigQuery differs. `col` is a JSON column (DuckDB `json`,
    BigQuery `JSON`), `path` a JSONPath such as '$.givenName' or '$.tenants[0]'. Every macro
    returns null when the path is absent or holds JSON null.
-#}

{#-
    Scalar as a string: a JSON string's text, a number's or boolean's literal; null for an object,
    an array, JSON null or an absent path. BigQuery's JSON_VALUE is documented so ("extracts a
    JSON scalar value ... if the path refers to a non-scalar value (an object or array), returns
    NULL"); DuckDB's json_extract_string returns an object's or array's JSON text, so the DuckDB
    side leaves those out by their json_type.
-#}
{% macro json_string(col, path) -%}
    {{ return(adapter.dispatch('json_string', 'descope_sync')(col, path)) }}
{%- endmacro %}

{% macro default__json_string(col, path) -%}
    case
        when json_type({{ col }}, '{{ path }}') not in ('OBJECT', 'ARRAY')
            then json_extract_string({{ col }}, '{{ path }}')
    end
{%- endmacro %}

{% macro bigquery__json_string(col, path) -%}
    json_value({{ col }}, '{{ path }}')
{%- endmacro %}

{#-
    Boolean: true for JSON true or a string 'true' in any case, false for JSON false or a string
    'false' in any case, null for anything else ('1', 't', 'yes', '', 0, 1, objects, arrays).
    Written out rather than cast: BigQuery's SAFE_CAST(STRING AS BOOL) accepts exactly 'true' and
    'false', case-insensitively (anything else is NULL), while DuckDB's try_cast also reads '1',
    't', 'yes' as true and the emulator (DuckDB underneath) follows DuckDB: the same rule on every
    engine, the one BigQuery's cast documents.
-#}
{% macro json_bool(col, path) -%}
    case lower({{ json_string(col, path) }})
        when 'true' then true
        when 'false' then false
    end
{%- endmacro %}

{#- 64-bit integer; null when absent or not an integer literal (1.5, "1e9", true: null). -#}
{% macro json_int(col, path) -%}
    {{ safe_integer(json_string(col, path)) }}
{%- endmacro %}

{#-
    Text holding an integer literal (`-?[0-9]+`) -> 64-bit integer; anything else (a fraction, an
    exponent, hex, spaces, out of the 64-bit range) -> null. A plain try_cast would not do: DuckDB
    rounds '1.5' to 2 and BigQuery reads '0x1A'.
-#}
{% macro safe_integer(text) -%}
    {{ return(adapter.dispatch('safe_integer', 'descope_sync')(text)) }}
{%- endmacro %}

{% macro default__safe_integer(text) -%}
    try_cast(nullif(regexp_extract({{ text }}, '^-?[0-9]+$'), '') as bigint)
{%- endmacro %}

{% macro bigquery__safe_integer(text) -%}
    safe_cast(regexp_extract({{ text }}, r'^-?[0-9]+$') as int64)
{%- endmacro %}

{#- A JSON sub-value kept as JSON (arrays, objects); null when absent or JSON null. -#}
{% macro json_value_json(col, path) -%}
    {{ return(adapter.dispatch('json_value_json', 'descope_sync')(col, path)) }}
{%- endmacro %}

{% macro default__json_value_json(col, path) -%}
    nullif(json_extract({{ col }}, '{{ path }}'), 'null'::json)
{%- endmacro %}

{#-
    BigQuery reads the sub-value with the JSON subscript operator (`payload['loginIds']`), the same
    value as json_query(payload, '$.loginIds') and typed JSON everywhere: the BigQuery emulator
    types json_query's result STRING, which breaks a JSON contract column.
-#}
{% macro bigquery__json_value_json(col, path) -%}
    {%- set sub_value = col ~ json_subscripts(path) -%}
    case
        when json_type({{ sub_value }}) != 'null'
            then {{ sub_value }}
    end
{%- endmacro %}

{#-
    A JSONPath of member names and array indexes ('$.a', '$.tenants[0]', '$[0].b') as BigQuery
    JSON subscripts (['a'], ['tenants'][0], [0]['b']). Names are plain keys (no quoting, no dots).
-#}
{% macro json_subscripts(path) -%}
    {%- if not path.startswith('$') -%}
        {{ exceptions.raise_compiler_error("json path must start with '$': " ~ path) }}
    {%- endif -%}
    {%- for step in path[1:].replace('[', '.[').split('.') if step -%}
        {%- if step.startswith('[') -%}
            {{ step }}
        {%- else -%}
            ['{{ step }}']
        {%- endif -%}
    {%- endfor -%}
{%- endmacro %}

{#-
    Every string inside a JSON value, at any depth, as an array of strings (DuckDB `varchar[]`,
    BigQuery `ARRAY<STRING>`); object keys count too (a map keyed by ID holds IDs). Read with a
    regular expression over the JSON text, which works the same on both engines: scanning from the
    start, each `"` opens a string token and the pattern consumes it through its closing quote,
    escapes included (an escaped string comes back with its escapes, e.g. `a\"b`). An empty array
    when the value holds no string; null when the value is null.
-#}
{% macro json_strings(col) -%}
    {{ return(adapter.dispatch('json_strings', 'descope_sync')(col)) }}
{%- endmacro %}

{% macro default__json_strings(col) -%}
    regexp_extract_all(cast({{ col }} as varchar), '"((?:[^"\\]|\\.)*)"', 1)
{%- endmacro %}

{% macro bigquery__json_strings(col) -%}
    regexp_extract_all(to_json_string({{ col }}), r'"((?:[^"\\]|\\.)*)"')
{%- endmacro %}

{#-
    A from-clause item that turns an array into rows, one column named `alias`:
    `from t {{ cross_join_unnest('t.values', 'value') }}` then `select value`.
-#}
{% macro cross_join_unnest(array_expr, alias) -%}
    {{ return(adapter.dispatch('cross_join_unnest', 'descope_sync')(array_expr, alias)) }}
{%- endmacro %}

{% macro default__cross_join_unnest(array_expr, alias) -%}
    cross join unnest({{ array_expr }}) as {{ alias }}_rows ({{ alias }})
{%- endmacro %}

{% macro bigquery__cross_join_unnest(array_expr, alias) -%}
    cross join unnest({{ array_expr }}) as {{ alias }}
{%- endmacro %}
