// Sends events and profile updates with the official Mixpanel Node SDK to a Tally server,
// every call the SDK has for them. The SDK sends its API secret only over HTTPS, so the
// server is HTTPS here (NODE_EXTRA_CA_CERTS names the test certificate).
// node node_sdk.mjs BASE_URL TOKEN API_SECRET
// Exits non-zero if the server refuses anything.
import Mixpanel from "mixpanel";

const [base, token, secret] = process.argv.slice(2);
const url = new URL(base);
const mp = Mixpanel.init(token, { host: url.host, protocol: url.protocol.replace(":", ""), keepAlive: false, secret });

const call = (fn) => new Promise((resolve, reject) => fn((error) => (error ? reject(error) : resolve())));
const now = Date.now();

await call((cb) => mp.track("Node Event", { distinct_id: "node-user", $insert_id: "node-1", plan: "team", n: 7, list: [1, 2] }, cb));
await call((cb) =>
  mp.track_batch(
    [0, 1, 2].map((n) => ({ event: "Node Batch", properties: { distinct_id: "node-user", $insert_id: `node-batch-${n}`, n, time: now } })),
    cb,
  ),
);
// import: GET /import?data=<base64>; import_batch: POST data=<base64>, not URL-encoded, so a
// '+' in it (from "~", ">" or non-ASCII text) arrives as a space. Neither sends $insert_id.
await call((cb) => mp.import("Node Import", new Date(now - 3 * 86400 * 1000), { distinct_id: "node-user", via: "import" }, cb));
await call((cb) =>
  mp.import_batch(
    [0, 1].map((n) => ({ event: "Node Import Batch", properties: { distinct_id: "node-user", time: now - 86400 * 1000 - n, note: `café ~> ${n}` } })),
    cb,
  ),
);
await call((cb) => mp.alias("node-user", "node-alias", cb));
await call((cb) => mp.people.set("node-user", { $name: "Node User", plan: "team", temporary: true }, cb));
await call((cb) => mp.people.set_once("node-user", { plan: "free", first: "yes" }, cb));
await call((cb) => mp.people.increment("node-user", { logins: 2 }, cb));
await call((cb) => mp.people.append("node-user", { pages: "home" }, cb));
await call((cb) => mp.people.union("node-user", { teams: ["red", "blue"] }, cb));
await call((cb) => mp.people.remove("node-user", { teams: "red" }, cb));
await call((cb) => mp.people.unset("node-user", ["temporary"], cb));
await call((cb) => mp.people.track_charge("node-user", 12.5, { sku: "n1" }, cb));
await call((cb) => mp.people.set("node-charged", { $name: "Charged" }, cb));
await call((cb) => mp.people.track_charge("node-charged", 3, {}, cb));
await call((cb) => mp.people.clear_charges("node-charged", cb));
await call((cb) => mp.people.set("node-gone", { $name: "Gone" }, cb));
await call((cb) => mp.people.delete_user("node-gone", cb));
await call((cb) => mp.groups.set("company", "globex", { seats: 3, tiers: ["a", "b"], old: 1 }, cb));
await call((cb) => mp.groups.set_once("company", "globex", { seats: 99, founded: 1989 }, cb));
await call((cb) => mp.groups.union("company", "globex", { domains: ["globex.example"] }, cb));
await call((cb) => mp.groups.remove("company", "globex", { tiers: "a" }, cb));
await call((cb) => mp.groups.unset("company", "globex", ["old"], cb));
await call((cb) => mp.groups.set("company", "doomed", { seats: 1 }, cb));
await call((cb) => mp.groups.delete_group("company", "doomed", cb));
console.log("ok");
