{#-
    The columns of a geolocation lookup, in stg_geoip__ip_locations's order: what it reads from
    landing, unions with its own rows in an incremental run, and writes.
-#}
{% macro get_ip_locations_columns() -%}
    {{- return([
        'ip', 'client_ip', 'is_found', 'not_found_reason', 'city', 'region', 'region_code',
        'country_code', 'country_name', 'continent_code', 'latitude', 'longitude',
        'accuracy_radius_km', 'time_zone', 'database_type', 'database_built_at', '_looked_up_at',
        '_batch_id',
    ]) -}}
{%- endmacro %}
