-- What the live push announced once is kept for 400 days, not for ever: the API reads the table whole into its
-- memory at start, and about twenty announcements an event (milestones, capacity alerts) would grow it by
-- millions of rows a year on a busy platform. An event crosses its milestones within its sales (months), so
-- one announced more than 400 days ago could be announced again only by an event still updated that long after.
-- Redis keeps its copies (TICKETTOKEN_REDIS_URL) as long (api/push/once.py).
ALTER TABLE {database}.pushed_once MODIFY TTL toDateTime(pushed_at) + INTERVAL 400 DAY;
