{#-
    The loaded_at_query of a landing table's freshness: when its stream last committed a run, the
    newest `_sync_runs` row of the stream that is not `failed` (a partial run made progress). Not the
    table's own `_extracted_at`: a quiet tenant lands no users or events while every run succeeds.
    `statuses` narrows it where only some statuses land data (a tenants snapshot is `success` or nothing).
-#}
{% macro stream_last_committed(stream, statuses=none) -%}
    select max(finished_at) from {{ source('descope', '_sync_runs') }}
    where stream = '{{ stream }}' and
    {%- if statuses %} status in ({{ quoted_list(statuses) }})
    {%- else %} status <> 'failed'
    {%- endif %}
{%- endmacro %}
