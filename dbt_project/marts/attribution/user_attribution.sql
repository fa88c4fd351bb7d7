-- GA4 first-touch attribution of each live Descope user (users): every GA4 device that ever
-- carried their userId (int_ga4_user_devices), and of those devices' first touches
-- (int_ga4_device_first_touches) the earliest (ties: the smaller user_pseudo_id). A user GA4
-- never saw has a row with is_ga4_attributed false. Empty when var ga4_dataset is not set.
with

users as (
    select user_id from {{ ref('users') }}
),

devices as (
    select * from {{ ref('int_ga4_user_devices') }}
),

touches as (
    select * from {{ ref('int_ga4_device_first_touches') }}
),

device_touches as (
    select
        devices.user_id,
        touches.user_pseudo_id,
        touches.first_seen_at,
        touches.source,
        touches.medium,
        touches.campaign,
        touches.landing_page,
        row_number() over (
            partition by devices.user_id
            order by touches.first_seen_at asc, touches.user_pseudo_id asc
        ) as touch_rank
    from devices
    inner join touches
        on devices.user_pseudo_id = touches.user_pseudo_id
),

device_counts as (
    select
        user_id,
        count(distinct user_pseudo_id) as ga4_devices,
        min(first_linked_at) as first_identified_at
    from devices
    group by user_id
),

first_touches as (
    select *
    from device_touches
    where touch_rank = 1
),

final as (
    select
        users.user_id,
        first_touches.first_seen_at as first_touch_at,
        first_touches.source as first_touch_source,
        first_touches.medium as first_touch_medium,
        first_touches.campaign as first_touch_campaign,
        first_touches.landing_page as first_touch_landing_page,
        first_touches.user_pseudo_id as first_touch_user_pseudo_id,
        device_counts.first_identified_at,
        first_touches.user_id is not null as is_ga4_attributed,
        coalesce(device_counts.ga4_devices, 0) as ga4_devices
    from users
    left join first_touches
        on users.user_id = first_touches.user_id
    left join device_counts
        on users.user_id = device_counts.user_id
    {% if not ga4_enabled() %}
    where false
    {% endif %}
)

select * from final
