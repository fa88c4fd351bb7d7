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
