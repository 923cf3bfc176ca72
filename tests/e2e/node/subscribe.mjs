// Connects with an API key, subscribes to one event and prints, one JSON line each: the subscription's answer,
// then the first `sale-update` (and exits). Usage: node subscribe.mjs <api url> <key> <event id>
import { io } from "socket.io-client";

const [url, key, eventId] = process.argv.slice(2);
const socket = io(url, { auth: { key }, transports: ["websocket"], reconnection: false });
const say = (what) => process.stdout.write(JSON.stringify(what) + "\n");

socket.on("connect_error", (error) => {
  say({ connect_error: error.message });
  process.exit(2);
});
socket.on("connect", () => {
  socket.emit("subscribe-event", eventId, (answer) => say({ subscribed: answer }));
});
socket.on("sale-update", (update) => {
  say({ "sale-update": update });
  socket.close();
  process.exit(0);
});
setTimeout(() => {
  say({ timeout: true });
  process.exit(3);
}, 30000);
