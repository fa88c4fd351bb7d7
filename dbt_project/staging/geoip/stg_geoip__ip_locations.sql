-- The current geolocation of each IP: the lookup from the newest database build, then the newest
-- lookup. Older lookups stay in landing (a newer database can be applied without losing history).
-- `ip` is the raw remoteAddress (the join key); `client_ip` the address the lookup used. Lookups
-- landed before the extractor wrote client_ip parsed the trimmed string as one address, so
-- for them it is that string when the lookup did not call it invalid or empty.
with

source as (
    select * from {{ source('geoip', 'ip_locations') }}
),

ranked as (
    select
        *,
        coalesce(
            client_ip,
            case
                when coalesce(not_found_reason, '') not in ('invalid', 'empty')
                    then {{ trim_whitespace('ip') }}
            end
        ) as resolved_client_ip,
        row_number() over (
            partition by ip
            order by database_built_at desc nulls last, _looked_up_at desc, _batch_id desc
        ) as lookup_rank
    from source
),

final as (
    select
        ip,
        resolved_client_ip as client_ip,
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
