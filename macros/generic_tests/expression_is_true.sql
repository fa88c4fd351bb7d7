{#-
    Fails on every row where `expression` is false (null passes, as in dbt_utils: combine with
    not_null when needed). On a column, the expression is applied to that column
    (`expression: ">= first_login_time"`); on a model it is a full boolean expression.
-#}
{% test expression_is_true(model, expression, column_name=none) %}

select *
from {{ model }}
{% if column_name is none -%}
where not ({{ expression }})
{%- else -%}
where not ({{ column_name }} {{ expression }})
{%- endif %}

{% endtest %}
