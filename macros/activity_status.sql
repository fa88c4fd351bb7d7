{#-
    Activity buckets from whole days since the last login (null = never logged in).
    Boundaries (inclusive upper bounds): 0 | 1-3 | 4-7 | 8-14 | 15-30 | 31-60 | 61+.
    A login dated in the future (clock skew) counts as today.
-#}
{% macro activity_status(days_col) -%}
    case
        when {{ days_col }} is null then 'Never Logged In'
        when {{ days_col }} <= 0 then 'Active Today'
        when {{ days_col }} <= 3 then 'Active 1-3 days'
        when {{ days_col }} <= 7 then 'Active 4-7 days'
        when {{ days_col }} <= 14 then 'At Risk 7-14 days'
        when {{ days_col }} <= 30 then 'Dormant 14-30 days'
        when {{ days_col }} <= 60 then 'Inactive 30-60 days'
        else 'Very Inactive 60+ days'
    end
{%- endmacro %}

{#- Coarse status: Active (<= 7 days), Dormant (<= 30), Inactive (> 30), Never Logged In. -#}
{% macro simple_activity_status(days_col) -%}
    case
        when {{ days_col }} is null then 'Never Logged In'
        when {{ days_col }} <= 7 then 'Active'
        when {{ days_col }} <= 30 then 'Dormant'
        else 'Inactive'
    end
{%- endmacro %}
