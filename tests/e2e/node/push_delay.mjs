// For bench/realtime.py: opens N sockets with a read key, subscribes each to one event, prints "ready" once all
// are subscribed, then one JSON line per received sale-update: {at: ms since epoch, tickets}.
// Usage: node push_delay.mjs <api url> <key> <event id> <sockets>
import { io } from "socket.io-client";

const [url, key, eventId, count] = process.argv.slice(2);
let ready = 0;
const out = [];
for (let i = 0; i < Number(count); i++) {
  const socket = io(url, { auth: { key }, transports: ["websocket"], reconnection: false, forceNew: true });
  socket.on("connect", () =>
    socket.emit("subscribe-event", eventId, () => {
      ready += 1;
      if (ready === Number(count)) process.stdout.write("ready\n");
    }),
  );
  socket.on("connect_error", (error) => process.stdout.write(JSON.stringify({ error: error.message }) + "\n"));
  socket.on("sale-update", (update) => out.push(JSON.stringify({ at: Date.now(), tickets: update.tickets })));
}
process.stdin.on("data", () => {
  // Any input: print what was received and exit.
  process.stdout.write(out.join("\n") + "\nend\n", () => process.exit(0));
});
