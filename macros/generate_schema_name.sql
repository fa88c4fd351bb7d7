{#-
    Use a model's custom schema exactly (descope_staging, descope_data_v2), without dbt's default
    "<target schema>_" prefix: the marts must land in the dataset dashboards read.

    dbt_project.yml cannot read its own `vars:` while rendering model configs, so folders name the
    var that holds their schema (`+schema: staging_schema`, `+schema: marts_schema`) and this macro
    resolves it; those vars read DESCOPE_STAGING_DATASET / DESCOPE_MARTS_DATASET. Any other custom
    schema is used as written; models without one go to the target schema.
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- elif custom_schema_name | trim in ['raw_schema', 'staging_schema', 'marts_schema'] -%}
        {{ var(custom_schema_name | trim) | trim }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
