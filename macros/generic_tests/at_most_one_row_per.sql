{#- Fails once per value of the column (nulls included) that occurs on more than one row. -#}
{% test at_most_one_row_per(model, column_name) %}

select
    {{ column_name }} as duplicated_value,
    count(*) as n_rows
from {{ model }}
group by {{ column_name }}
having count(*) > 1

{% endtest %}
