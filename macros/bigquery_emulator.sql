{#-
    The local BigQuery emulator (PyPI bqemulator; docs/proven-without-google.md), and what
    this project does differently when it is the endpoint. Production never takes these branches:
    they depend on BIGQUERY_EMULATOR_HOST, which only points at an emulator (the BigQuery client
    library sends every request there when it is set). Every emulator workaround in the project:
    - here: bigquery__create_table_as (contract-enforced tables) and get_fixture_sql (unit-test
      fixtures of JSON columns);
    - stg_descope__users.yml: unit test test_stg_descope__users_fractions_and_texts_are_null_times
      is disabled on the emulator;
    - profiles.yml: oauth-secrets with a dummy token and api_endpoint from the host.
-#}

{#- True when BIGQUERY_EMULATOR_HOST is set: the bigquery target talks to the emulator. -#}
{% macro bigquery_emulator() -%}
    {{ return(target.type == 'bigquery' and (env_var('BIGQUERY_EMULATOR_HOST', '') | trim) != '') }}
{%- endmacro %}

{#-
    Overrides the adapter's create_table_as (dbt dispatches to the root project's macro first).
    On BigQuery this is the adapter's own macro, unchanged. On the emulator, a contract-enforced
    table is made in two statements: `create or replace table t (columns and constraints)
    partition by ... cluster by ...`, then `insert into t (columns) select ...`, because the
    emulator's parser rejects the adapter's single `create or replace table t (columns) ... as (
    select ... )`, and an `as select` without the parentheses would be accepted but ignore the
    column definitions (NOT NULL unchecked). The insert keeps the contract in force: the emulator
    checks NOT NULL on insert, and dbt's column check (names and types) ran before, as usual.
-#}
{% macro bigquery__create_table_as(temporary, relation, compiled_code, language='sql') -%}
    {%- set contract_config = config.get('contract') -%}
    {%- if language == 'sql' and contract_config.enforced and bigquery_emulator() -%}
        {{- descope_sync.bigquery_emulator__create_contracted_table(temporary, relation, compiled_code) -}}
    {%- else -%}
        {{- dbt.bigquery__create_table_as(temporary, relation, compiled_code, language) -}}
    {%- endif -%}
{%- endmacro %}

{% macro bigquery_emulator__create_contracted_table(temporary, relation, compiled_code) -%}
    {%- set partition_config = adapter.parse_partition_by(config.get('partition_by', none)) -%}
    {%- set sql_header = config.get('sql_header', none) -%}
    {{ sql_header if sql_header is not none }}
    {{ get_assert_columns_equivalent(compiled_code) }}
    create or replace table {{ relation }}
    {{ get_table_columns_and_constraints() }}
    {{ partition_by(partition_config) }}
    {{ cluster_by(config.get('cluster_by', none)) }}
    {{ bigquery_table_options(config, model, temporary) }};
    insert into {{ relation }} ({{ adapter.dispatch('get_column_names', 'dbt')() }})
    {{ get_select_subquery(compiled_code) }};
{%- endmacro %}

{#-
    Overrides dbt's get_fixture_sql (the rows a unit test gives for an input). Everywhere but on
    the emulator this is dbt's own macro, unchanged. dbt types fixture columns from the input
    relation's table metadata, where the emulator lists JSON columns as STRING: a fixture would
    then hand the model text where it reads JSON (to_json_string of text quotes it, and a bulk
    deletion's IDs are never found). On the emulator the columns whose type a query reports as
    JSON are parsed back into JSON; the rest of the fixture is dbt's.
-#}
{% macro get_fixture_sql(rows, column_name_to_data_types) %}
    {%- set fixture_sql = dbt.get_fixture_sql(rows, column_name_to_data_types) -%}
    {%- if not (execute and bigquery_emulator()) -%}
        {{- return(fixture_sql) -}}
    {%- endif -%}
    {%- set queried = get_column_schema_from_query('select * from ' ~ this) -%}
    {%- set json_columns = queried | selectattr('dtype', 'equalto', 'JSON') | map(attribute='name') | list -%}
    {%- if not json_columns -%}
        {{- return(fixture_sql) -}}
    {%- endif -%}
    {%- set columns = [] -%}
    {%- for column in queried -%}
        {%- if column.name in json_columns -%}
            {%- do columns.append('safe.parse_json(' ~ adapter.quote(column.name) ~ ') as ' ~ adapter.quote(column.name)) -%}
        {%- else -%}
            {%- do columns.append(adapter.quote(column.name)) -%}
        {%- endif -%}
    {%- endfor -%}
    {{- return('select ' ~ columns | join(', ') ~ ' from (\n' ~ fixture_sql ~ '\n) as emulator_fixture') -}}
{% endmacro %}
