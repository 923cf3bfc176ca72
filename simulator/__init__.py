"""A seeded ticket-market simulator: venues in real cities, artists whose popularity drifts, tours, price
tiers, booking curves, buyers, gate scans, revenue lines and social activity, loaded through the service's own
ingest endpoints (`tickettoken demo`). Every dynamic is a named parameter of `MarketParams` (params.py), where
each is documented with its default; `generate(params)` (market.py) is deterministic for a seed.
"""
