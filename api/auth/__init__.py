"""API keys: scopes (ingest, read, admin), optionally bound to one organizer."""
