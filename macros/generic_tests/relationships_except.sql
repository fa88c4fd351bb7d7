{#- Like dbt's relationships test, but child rows whose key is listed in `except_in` are allowed
    to have no parent (e.g. logins of deleted users, which stay in the history on purpose). -#}
{% test relationships_except(model, column_name, to, field, except_in, except_field) %}

select child.{{ column_name }} as orphan_key
from {{ model }} as child
left join {{ to }} as parent
    on child.{{ column_name }} = parent.{{ field }}
where
    child.{{ column_name }} is not null
    and parent.{{ field }} is null
    and child.{{ column_name }} not in (
        select excepted.{{ except_field }} from {{ except_in }} as excepted
        where excepted.{{ except_field }} is not null
    )

{% endtest %}
