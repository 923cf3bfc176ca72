// The official Node.js client (@clickhouse/client) against the warehouse, as a Node service or tool would use it.
// Prints one JSON object of what each step returned (or the error's code). Usage:
// node clickhouse_client.mjs <warehouse url> <password> <analyst password> <gzip|plain> <unique suffix>
import { ClickHouseLogLevel, createClient } from "@clickhouse/client";

const [url, password, analystPassword, compression, suffix] = process.argv.slice(2);
const gzip = compression === "gzip";
const options = { url, password, compression: { request: gzip, response: gzip }, log: { level: ClickHouseLogLevel.OFF } };
const client = createClient({ ...options, username: "default" });
const table = `node_client_${suffix}`;
const rows = async (query, extra = {}) => (await client.query({ query, format: "JSONEachRow", ...extra })).json();
const code = async (work) => {
  try {
    await work();
    return null;
  } catch (error) {
    return { code: error.code, type: error.type };
  }
};
const seen = {};

seen.ping = (await client.ping()).success;
seen.parameters = await rows("SELECT {x:UInt32} * 2 AS doubled, {s:String} AS echoed", {
  query_params: { x: 21, s: "it's \\ ok" },
});
await client.command({
  query: `CREATE TABLE ${table} (id UInt32, name String, price Decimal(12, 2), at DateTime64(3, 'UTC'))
          ENGINE = MergeTree ORDER BY id`,
});
await client.insert({
  table,
  format: "JSONEachRow",
  values: [
    { id: 1, name: "a", price: "9.99", at: "2026-11-27 01:02:03.456" },
    { id: 2, name: "b", price: "0.01", at: "2026-11-27 23:59:59.999" },
  ],
});
seen.read_back = await rows(`SELECT id, name, toString(price) AS price, toString(at) AS at FROM ${table} ORDER BY id`);
let streamed = 0;
const stream = (await client.query({ query: "SELECT number FROM numbers(200000)", format: "JSONCompactEachRow" })).stream();
for await (const chunk of stream) streamed += chunk.length;
seen.streamed = streamed;
seen.settings = await rows("SELECT getSetting('max_threads') AS threads", { clickhouse_settings: { max_threads: 3 } });
seen.syntax_error = await code(() => rows("SELEC 1"));
seen.unknown_table = await code(() => rows("SELECT * FROM no_such_table_anywhere"));

const session = createClient({ ...options, username: "default", session_id: `node-${suffix}` });
await session.command({ query: "CREATE TEMPORARY TABLE scratch (a UInt8)" });
await session.insert({ table: "scratch", format: "JSONEachRow", values: [{ a: 5 }] });
seen.session = await (await session.query({ query: "SELECT a FROM scratch", format: "JSONEachRow" })).json();
seen.other_session = await code(() => rows("SELECT a FROM scratch"));
await session.close();

const analyst = createClient({ ...options, username: "analyst", password: analystPassword });
seen.analyst_count = await (await analyst.query({ query: `SELECT count() AS n FROM ${table}`, format: "JSONEachRow" })).json();
seen.analyst_insert = await code(() => analyst.insert({ table, format: "JSONEachRow", values: [{ id: 3 }] }));
await analyst.close();

await client.command({ query: `DROP TABLE ${table}` });
await client.close();
process.stdout.write(JSON.stringify(seen) + "\n");
