{#- The users mart's columns users_clean passes through unchanged, in users_clean's order. -#}
{% macro get_users_clean_passthrough_columns() -%}
    {{- return([
        'given_name', 'family_name', 'phone', 'verified_email', 'verified_phone', 'status',
        'role_names', 'user_tenants', 'custom_attributes', 'created_time', 'modified_time',
        'first_login_time', 'last_login_time', 'last_login_ip', 'last_login_city',
        'last_login_region', 'last_login_country', 'last_login_country_name', 'login_count',
    ]) -}}
{%- endmacro %}
