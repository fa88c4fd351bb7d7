{{ config(materialized='view') }}
-- Live, non-test users for analysts: cleaned email and display name, and activity computed at
-- query time (days are whole UTC calendar days between dates).
{%- set passthrough_columns = get_users_clean_passthrough_columns() %}
with

users as (
    select * from {{ ref('users') }}
),

real_users as (
    select *
    from users
    where not coalesce(test, false)
),

tenants as (
    select * from {{ ref('int_tenants_current') }}
),

-- A user's tenants: the staged tenants whose id is a string in the user's `userTenants`.
tenant_refs as (
    select
        real_users.user_id,
        -- the unnested value; how to qualify it differs between engines
        tenant_ref  -- noqa: RF03
    from real_users
    {{ cross_join_unnest(json_strings('real_users.user_tenants'), 'tenant_ref') }}
),

memberships as (
    select distinct
        tenant_refs.user_id,
        tenants.tenant_id,
        tenants.tenant_name
    from tenant_refs
    inner join tenants on tenant_refs.tenant_ref = tenants.tenant_id
),

user_tenant_names as (
    select
        user_id,
        {{ dbt.listagg('tenant_name', "', '", 'order by tenant_name') }} as tenant_names
    from memberships
    group by user_id
),

cleaned as (
    select
        user_id,
        -- trim_whitespace, not trim(): the engines' trim() remove different characters (macros/text.sql)
        nullif(lower({{ trim_whitespace('email') }}), '') as email,
        nullif({{ trim_whitespace('display_name') }}, '') as display_name,
        -- concat() is null on BigQuery when any argument is: every argument is coalesced
        nullif(
            {{ trim_whitespace(
                "concat(coalesce(" ~ trim_whitespace('given_name') ~ ", ''), ' ', coalesce("
                ~ trim_whitespace('family_name') ~ ", ''))"
            ) }},
            ''
        ) as given_family_name,
        {{ json_string('login_ids', '$[0]') }} as first_login_id,
        {{ passthrough_columns | join(',\n        ') }}
    from real_users
),

with_tenant_names as (
    select
        cleaned.*,
        user_tenant_names.tenant_names
    from cleaned
    left join user_tenant_names on cleaned.user_id = user_tenant_names.user_id
),

with_email_parts as (
    select
        *,
        case when strpos(email, '@') > 0 then substr(email, strpos(email, '@') + 1) end as email_domain,
        case when strpos(email, '@') > 1 then substr(email, 1, strpos(email, '@') - 1) end as email_local_part
    from with_tenant_names
),

with_activity as (
    select
        *,
        -- whole UTC calendar days (dates) and whole seconds; dbt.datediff renders one long line
        {{ dbt.datediff(to_utc_date('created_time'), to_utc_date(utc_now()), 'day') }} as days_since_signup,  -- noqa: LT05
        {{ dbt.datediff(to_utc_date('last_login_time'), to_utc_date(utc_now()), 'day') }} as days_since_last_login,  -- noqa: LT05
        {{ dbt.datediff('created_time', 'first_login_time', 'second') }} as signup_to_first_login_seconds  -- noqa: LT05
    from with_email_parts
),

final as (
    select
        user_id,
        email,
        email_domain,
        coalesce(display_name, given_family_name, email_local_part, first_login_id) as display_name,
        {{ passthrough_columns | join(',\n        ') }},
        tenant_names,
        days_since_signup,
        days_since_last_login,
        signup_to_first_login_seconds,
        round(signup_to_first_login_seconds / 60.0, 2) as signup_to_first_login_minutes,
        coalesce(
            {{ to_utc_date('first_login_time') }} = {{ to_utc_date('created_time') }}, false
        ) as is_same_day_activation,
        {{ activity_status('days_since_last_login') }} as user_activity_status,
        {{ simple_activity_status('days_since_last_login') }} as simple_status
    from with_activity
)

select * from final
