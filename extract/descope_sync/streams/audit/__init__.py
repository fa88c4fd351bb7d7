"""The audit_events stream's readers; the stream itself is :mod:`descope_sync.streams.audit_events`."""
