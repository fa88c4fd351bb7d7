-- Warns when the extractor quarantined records it could not land (e.g. a user without userId):
-- they are missing from the marts until someone looks at descope_raw._quarantine.
{{ config(severity='warn') }}

select
    stream,
    reason,
    records_quarantined,
    first_extracted_at,
    last_extracted_at
from {{ ref('stg_descope__quarantine') }}
