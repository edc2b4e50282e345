"""Services: one per resource; each owns its SQL and transactions and returns typed records."""
