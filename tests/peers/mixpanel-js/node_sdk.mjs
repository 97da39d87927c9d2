// Sends events and profile updates with the official Mixpanel Node SDK to a Tally server.
// node node_sdk.mjs BASE_URL TOKEN
// Exits non-zero if the server refuses anything. (The SDK sends /import only over HTTPS.)
import Mixpanel from "mixpanel";

const [base, token] = process.argv.slice(2);
const url = new URL(base);
const mp = Mixpanel.init(token, { host: url.host, protocol: url.protocol.replace(":", ""), keepAlive: false });

const call = (fn) => new Promise((resolve, reject) => fn((error) => (error ? reject(error) : resolve())));

await call((cb) => mp.track("Node Event", { distinct_id: "node-user", $insert_id: "node-1", plan: "team", n: 7, list: [1, 2] }, cb));
await call((cb) =>
  mp.track_batch(
    [0, 1, 2].map((n) => ({ event: "Node Batch", properties: { distinct_id: "node-user", $insert_id: `node-batch-${n}`, n, time: Date.now() } })),
    cb,
  ),
);
await call((cb) => mp.people.set("node-user", { $name: "Node User", plan: "team" }, cb));
await call((cb) => mp.people.set_once("node-user", { plan: "free", first: "yes" }, cb));
await call((cb) => mp.people.increment("node-user", { logins: 2 }, cb));
await call((cb) => mp.people.append("node-user", { pages: "home" }, cb));
await call((cb) => mp.people.union("node-user", { teams: ["red", "blue"] }, cb));
await call((cb) => mp.people.remove("node-user", { teams: "red" }, cb));
await call((cb) => mp.groups.set("company", "globex", { seats: 3 }, cb));
console.log("ok");
