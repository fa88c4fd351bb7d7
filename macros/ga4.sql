{#-
    GA4's standard BigQuery export (dbt_project/marts/attribution): a dataset of daily shards
    `events_YYYYMMDD` and today's `events_intraday_YYYYMMDD`. Off unless var ga4_dataset names the
    dataset (a DuckDB schema locally): the GA4 models are then empty and read nothing.
-#}

{#- True when a GA4 export dataset is configured. -#}
{% macro ga4_enabled() -%}
    {{ return((var('ga4_dataset') | string | trim) not in ('', 'None')) }}
{%- endmacro %}

{#-
    A select of the export's events: the columns named, plus `_table_suffix` (`YYYYMMDD` for a
    daily shard, `intraday_YYYYMMDD`). Daily shards from `since_suffix` on (all when none), and
    every intraday table. Wildcard tables are BigQuery's: DuckDB gets a union of the shards listed
    in its catalog when the model is compiled.
-#}
{% macro ga4_events(columns, since_suffix=none) -%}
    {{ return(adapter.dispatch('ga4_events', 'descope_sync')(columns, since_suffix)) }}
{%- endmacro %}

{% macro default__ga4_events(columns, since_suffix) -%}
    {%- set dataset = var('ga4_dataset') | string | trim -%}
    {%- set daily, intraday = [], [] -%}
    {%- if execute -%}
        {%- set listed = run_query(
            "select table_name from information_schema.tables where table_schema = "
            ~ sql_string(dataset) ~ " and table_name like 'events%' order by table_name"
        ) -%}
        {%- for row in listed.rows -%}
            {%- set suffix = row[0][7:] if row[0].startswith('events_') else '' -%}
            {%- if suffix | length == 8 and suffix.isdigit() -%}
                {%- do daily.append(suffix) -%}
            {%- elif suffix.startswith('intraday_') and suffix[9:].isdigit() -%}
                {%- do intraday.append(suffix) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- if daily | length == 0 and intraday | length == 0 -%}
            {{ exceptions.raise_compiler_error(
                "var ga4_dataset is '" ~ dataset ~ "', which holds no GA4 export table (events_YYYYMMDD, "
                ~ "events_intraday_YYYYMMDD): name the export's dataset, or leave ga4_dataset empty"
            ) }}
        {%- endif -%}
    {%- endif -%}
    {#- the newest daily shard is read even when older than since_suffix: a union needs one table -#}
    {%- set recent = daily | select('ge', since_suffix or '') | list if daily else [] -%}
    {%- set tables = (recent or daily[-1:]) + intraday -%}
    {%- for suffix in tables %}
    select {{ columns | join(', ') }}, '{{ suffix }}' as _table_suffix
    from {{ adapter.quote(dataset) }}.{{ adapter.quote('events_' ~ suffix) }}
    {% if not loop.last %}union all{% endif %}
    {%- endfor -%}
    {%- if tables | length == 0 %}
    select 1 as _parsing_only
    {%- endif -%}
{%- endmacro %}

{% macro bigquery__ga4_events(columns, since_suffix) -%}
    {%- set project = var('ga4_project') or target.project -%}
    select {{ columns | join(', ') }}, _table_suffix
    from `{{ project }}.{{ var('ga4_dataset') | trim }}.events_*`
    where
        starts_with(_table_suffix, 'intraday_')
        or (
            regexp_contains(_table_suffix, r'^[0-9]{8}$')
            {% if since_suffix is not none -%}
            and _table_suffix >= '{{ since_suffix }}'
            {%- endif %}
        )
{%- endmacro %}

{#- The string value of the first event parameter named `key` in the repeated `params` column. -#}
{% macro ga4_param_string(params, key) -%}
    {{ return(adapter.dispatch('ga4_param_string', 'descope_sync')(params, key)) }}
{%- endmacro %}

{% macro default__ga4_param_string(params, key) -%}
    (list_filter({{ params }}, param -> param.key = '{{ key }}')[1]).value.string_value
{%- endmacro %}

{% macro bigquery__ga4_param_string(params, key) -%}
    (select param.value.string_value from unnest({{ params }}) as param where param.key = '{{ key }}' limit 1)
{%- endmacro %}

{#- Microseconds since the epoch -> UTC timestamp (GA4's event_timestamp). -#}
{% macro micros_to_timestamp(micros) -%}
    {{ return(adapter.dispatch('micros_to_timestamp', 'descope_sync')(micros)) }}
{%- endmacro %}

{% macro default__micros_to_timestamp(micros) -%}
    make_timestamp(cast({{ micros }} as bigint))
{%- endmacro %}

{% macro bigquery__micros_to_timestamp(micros) -%}
    timestamp_micros(cast({{ micros }} as int64))
{%- endmacro %}

{#-
    The first daily shard an incremental GA4 model reads: var ga4_lookback_days before the
    newest event date in its own table (GA4 rewrites a daily shard with events up to 72 hours
    late), as `YYYYMMDD`; none (every shard) on a first or full build.
-#}
{% macro ga4_since_suffix(date_column) -%}
    {%- if not is_incremental() or not execute -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set newest = query_scalar('select max(' ~ date_column ~ ') from ' ~ this) -%}
    {%- if newest is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set newest_date = modules.datetime.date.fromisoformat(newest | string) -%}
    {%- set since = newest_date - modules.datetime.timedelta(days=var('ga4_lookback_days')) -%}
    {{ return(since.strftime('%Y%m%d')) }}
{%- endmacro %}

{#- GA4's event_date ('YYYYMMDD') -> date. -#}
{% macro parse_yyyymmdd(text) -%}
    {{ return(adapter.dispatch('parse_yyyymmdd', 'descope_sync')(text)) }}
{%- endmacro %}

{% macro default__parse_yyyymmdd(text) -%}
    cast(strptime({{ text }}, '%Y%m%d') as date)
{%- endmacro %}

{% macro bigquery__parse_yyyymmdd(text) -%}
    parse_date('%Y%m%d', {{ text }})
{%- endmacro %}
