{#-
    The grain test of a model keyed by several columns: fails on every combination of `columns`
    held by more than one row (nulls compare equal, as group by treats them).
-#}
{% test unique_combination(model, columns) %}

select
    {{ columns | join(', ') }},
    count(*) as n_rows
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1

{% endtest %}
