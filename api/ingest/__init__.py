"""Ingest: the platform's records into the warehouse, validated, idempotent, acknowledged when committed."""
