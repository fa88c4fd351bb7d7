{#-
    The first day user_logins merges into (var user_logins_merge_window_days before today, UTC):
    a constant expression, so BigQuery prunes the mart's partitions in the merge.
-#}
{% macro user_logins_merge_window_start() -%}
    {{ to_utc_date(dbt.dateadd('day', -1 * (var('user_logins_merge_window_days') | int), utc_now())) }}
{%- endmacro %}
