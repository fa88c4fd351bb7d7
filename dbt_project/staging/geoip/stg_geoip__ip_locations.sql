-- The current geolocation of each IP: the lookup from the newest database build, then the newest
-- lookup. Older lookups stay in landing (a newer database can be applied without losing history).
with

source as (
    select * from {{ source('geoip', 'ip_locations') }}
),

ranked as (
    select
        *,
        row_number() over (
            partition by ip
            order by database_built_at desc nulls last, _looked_up_at desc, _batch_id desc
        ) as lookup_rank
    from source
),

final as (
    select
        ip,
        is_found,
        not_found_reason,
        city,
        region,
        region_code,
        country_code,
        country_name,
        continent_code,
        latitude,
        longitude,
        accuracy_radius_km,
        time_zone,
        database_type,
        database_built_at,
        _looked_up_at
    from ranked
    where lookup_rank = 1
)

select * from final
