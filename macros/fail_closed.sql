{#-
    The two fail-closed overrides (dbt_project.yml vars, each also read from an environment
    variable), trimmed; '' when unset. Models and tests compare them through sql_string(), so any
    text is safe: a value that names nothing confirms or acknowledges nothing.
-#}

{#- The users full sweep whose deletions someone confirmed although the safety valve held it. -#}
{% macro confirmed_deletions_sweep_id() -%}
    {{ return((var('confirm_deletions_sweep_id', '') or '') | string | trim) }}
{%- endmacro %}

{#- `data_loss` runs finished at or before this UTC timestamp text are acknowledged. -#}
{% macro audit_data_loss_acknowledged_through() -%}
    {{ return((var('acknowledge_audit_data_loss_through', '') or '') | string | trim) }}
{%- endmacro %}
