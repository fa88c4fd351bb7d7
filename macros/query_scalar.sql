{#- The first value of a one-row query; none while dbt parses (nothing runs then). -#}
{% macro query_scalar(sql) -%}
    {%- if not execute -%}
        {{- return(none) -}}
    {%- endif -%}
    {%- set result = run_query(sql) -%}
    {{- return(result.columns[0].values()[0] if result.rows | length > 0 else none) -}}
{%- endmacro %}
