{#-
    Use a model's custom schema exactly (descope_staging, descope_data_v2 in dbt_project.yml, read
    from DESCOPE_STAGING_DATASET / DESCOPE_MARTS_DATASET), without dbt's default "<target schema>_"
    prefix: the marts must land in the dataset dashboards read. Models without one go to the
    target schema.
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
