{#-
    Fails on every row where `expression` is not true. On a column, the expression is applied
    to that column (`expression: ">= 0"`); on a model it is a full boolean expression.
    `where` is dbt's own config.
-#}
{% test expression_is_true(model, expression, column_name=none) %}

select *
from {{ model }}
{% if column_name is none -%}
where not coalesce(({{ expression }}), false)
{%- else -%}
where not coalesce(({{ column_name }} {{ expression }}), false)
{%- endif %}

{% endtest %}
