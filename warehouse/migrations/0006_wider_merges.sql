-- Wider merges for the fact tables.
--
-- Every group-committed INSERT makes a part, so under steady ingest these tables receive many small parts
-- (hundreds to thousands of rows each), and merging them was most of the warehouse's work: `perf` during
-- JSON batch ingest put 56% of its CPU in the merge thread. MergeTree's merge selector merges parts of
-- similar size once about `merge_selector_base` (default 5) of them are there; each row is rewritten once per
-- such level. At 20 a merge takes more parts at once, so a row passes fewer levels on its way to a large
-- part. Measured here on 300,000 sales in 2,000-row INSERTs, in-process: 5.6-6.0 us of engine CPU per row
-- (insert and every merge until settled) at 5, 4.2-4.6 at 20; through the API the warehouse used a fifth less
-- CPU on JSON batches, single sales and Arrow bodies alike (README, "Performance").
--
-- What it costs reads: more small parts are live at once (up to ~20 of a size rather than ~5), each one
-- more index lookup for a query of one event; the live views' benchmark met its goal in two of three runs, as
-- it did before (about two in three: the misses follow the API's own rate, README). Large parts are
-- unaffected (parts are still merged up to the usual size limits). The setting exists from ClickHouse 24.11 on.
ALTER TABLE {database}.sales MODIFY SETTING merge_selector_base = 20;
ALTER TABLE {database}.scans MODIFY SETTING merge_selector_base = 20;
ALTER TABLE {database}.revenue MODIFY SETTING merge_selector_base = 20;
ALTER TABLE {database}.social MODIFY SETTING merge_selector_base = 20;
