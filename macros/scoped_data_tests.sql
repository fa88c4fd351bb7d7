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
