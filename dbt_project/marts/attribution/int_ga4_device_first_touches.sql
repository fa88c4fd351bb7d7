{{
    config(
        materialized='incremental',
        unique_key='user_pseudo_id',
        incremental_strategy='merge',
        on_schema_change='append_new_columns',
        schema=env_var('DESCOPE_STAGING_DATASET', 'descope_staging'),
    )
}}
-- The first touch of each GA4 device (user_pseudo_id): its earliest event (ties broken by page,
-- source, medium, campaign), with GA4's first-user-acquisition `traffic_source` and that event's
-- `page_location`. Incremental by event date: a run reads the daily shards from var
-- ga4_lookback_days before the newest event date it holds, and every intraday table, then keeps
-- for each device the earlier of its stored first touch and the one just read (idempotent: the
-- same events read twice change nothing). Empty when var ga4_dataset is not set.
{%- set since_suffix = ga4_since_suffix('last_seen_date') if ga4_enabled() else none %}
{%- set touch_order = (
    "first_seen_at, coalesce(landing_page, ''), coalesce(source, ''), coalesce(medium, ''),"
    ~ " coalesce(campaign, '')"
) %}
with

{% if ga4_enabled() -%}
events as (
    {{ ga4_events(['event_date', 'event_timestamp', 'event_params', 'user_pseudo_id', 'traffic_source'], since_suffix) }}
),

touches as (
    select
        user_pseudo_id,
        {{ micros_to_timestamp('event_timestamp') }} as first_seen_at,
        traffic_source.source as source,
        traffic_source.medium as medium,
        traffic_source.name as campaign,
        {{ ga4_param_string('event_params', 'page_location') }} as landing_page,
        {{ parse_yyyymmdd('event_date') }} as last_seen_date
    from events
    where user_pseudo_id is not null
),

{% if is_incremental() -%}
candidates as (
    select * from touches
    union all
    select
        user_pseudo_id,
        first_seen_at,
        source,
        medium,
        campaign,
        landing_page,
        last_seen_date
    from {{ this }}
    where user_pseudo_id in (select touches.user_pseudo_id from touches)
),
{%- else -%}
candidates as (
    select * from touches
),
{%- endif %}

ranked as (
    select
        *,
        row_number() over (partition by user_pseudo_id order by {{ touch_order }}) as touch_rank,
        max(last_seen_date) over (partition by user_pseudo_id) as device_last_seen_date
    from candidates
),

final as (
    select
        user_pseudo_id,
        first_seen_at,
        source,
        medium,
        campaign,
        landing_page,
        device_last_seen_date as last_seen_date
    from ranked
    where touch_rank = 1
)
{%- else -%}
final as (
    select
        cast(null as {{ dbt.type_string() }}) as user_pseudo_id,
        cast(null as timestamp) as first_seen_at,
        cast(null as {{ dbt.type_string() }}) as source,  -- noqa: RF04
        cast(null as {{ dbt.type_string() }}) as medium,
        cast(null as {{ dbt.type_string() }}) as campaign,
        cast(null as {{ dbt.type_string() }}) as landing_page,
        cast(null as date) as last_seen_date
    from (select 1 as no_rows) as no_source
    where false
)
{%- endif %}

select * from final
