"""One module per stream: users, audit_events, ip_locations. A stream never imports another."""
