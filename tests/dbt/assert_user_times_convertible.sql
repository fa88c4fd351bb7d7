-- Warns about landed users whose createdTime or modifiedTime is present but no usable epoch-seconds
-- time: not an integer, or outside [0, 253402300799] (1970 to 9999). Staging makes those times null
-- instead of failing the build (macro epoch_seconds_to_timestamp); this says how many users it hit
-- and names a few.
{{ config(severity='warn', fail_calc='coalesce(sum(n_users), 0)') }}

with

user_versions as (
    select * from {{ ref('stg_descope__users') }}
),

bad_times as (
    select
        user_id,
        max(created_time_raw) as created_time_raw,
        max(modified_time_raw) as modified_time_raw
    from user_versions
    where
        (created_time_raw is not null and created_at is null)
        or (modified_time_raw is not null and modified_at is null)
    group by user_id
),

ranked as (
    select
        *,
        row_number() over (order by user_id) as user_rank
    from bad_times
),

final as (
    select
        count(*) as n_users,
        string_agg(
            case
                when user_rank <= 5
                    then concat(
                        user_id, ' (createdTime ', coalesce(created_time_raw, '-'),
                        ', modifiedTime ', coalesce(modified_time_raw, '-'), ')'
                    )
            end,
            ', '
        ) as example_users
    from ranked
    having count(*) > 0
)

select * from final
