{{
    config(
        materialized='incremental',
        unique_key=['user_id', 'user_pseudo_id'],
        incremental_strategy='merge',
        on_schema_change='append_new_columns',
        schema=env_var('DESCOPE_STAGING_DATASET', 'descope_staging'),
    )
}}
-- Every GA4 device (user_pseudo_id) that ever carried a user_id (the site sets it to the
-- Descope userId after login), with the first time it did. Incremental by event date like
-- int_ga4_device_first_touches (earliest and latest kept: idempotent). Empty when var
-- ga4_dataset is not set.
{%- set since_suffix = ga4_since_suffix('last_seen_date') if ga4_enabled() else none %}
with

{% if ga4_enabled() -%}
events as (
    {{ ga4_events(['event_date', 'event_timestamp', 'user_id', 'user_pseudo_id'], since_suffix) }}
),

links as (
    select
        user_id,
        user_pseudo_id,
        {{ micros_to_timestamp('event_timestamp') }} as first_linked_at,
        {{ parse_yyyymmdd('event_date') }} as last_seen_date
    from events
    where
        user_pseudo_id is not null
        and nullif(user_id, '') is not null
),

{% if is_incremental() -%}
candidates as (
    select * from links
    union all
    select
        existing.user_id,
        existing.user_pseudo_id,
        existing.first_linked_at,
        existing.last_seen_date
    from {{ this }} as existing
    inner join (select distinct links.user_id, links.user_pseudo_id from links) as relinked
        on
            existing.user_id = relinked.user_id
            and existing.user_pseudo_id = relinked.user_pseudo_id
),
{%- else -%}
candidates as (
    select * from links
),
{%- endif %}

final as (
    select
        user_id,
        user_pseudo_id,
        min(first_linked_at) as first_linked_at,
        max(last_seen_date) as last_seen_date
    from candidates
    group by user_id, user_pseudo_id
)
{%- else -%}
final as (
    select
        cast(null as {{ dbt.type_string() }}) as user_id,
        cast(null as {{ dbt.type_string() }}) as user_pseudo_id,
        cast(null as timestamp) as first_linked_at,
        cast(null as date) as last_seen_date
    from (select 1 as no_rows) as no_source
    where false
)
{%- endif %}

select * from final
