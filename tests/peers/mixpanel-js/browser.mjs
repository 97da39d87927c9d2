// Loads the official mixpanel-browser SDK in Debian's headless Chromium, on a page of
// another origin than Tally (so CORS is exercised), and makes every call the SDK has for
// events, identities, profiles and groups, in each of its ways of sending them: the
// default batches (arrays of up to 50, verbose=1, POST, flushed by the SDK's own
// batchers), one request per call, GET, raw JSON payloads, navigator.sendBeacon (per
// call, by configuration, and the batch the SDK sends when the page is hidden), and routes
// without their trailing slash.
// node browser.mjs BASE_URL TOKEN [CHROMIUM]
// Prints {...answers, info} as JSON: every SDK callback answer (each must be 1 or
// {status: 1}) and, under "info", facts the caller checks against what Tally stored.
// Every request the page sends to Tally is logged on stderr with Tally's answer; the
// script exits non-zero if any answer or request is not a success.
import http from "node:http";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

const [base, token, executable = "/usr/bin/chromium"] = process.argv.slice(2);
const require = createRequire(import.meta.url);
const sdk = await readFile(require.resolve("mixpanel-browser/dist/mixpanel.umd.js"));
const deadline = setTimeout(() => {
  console.error("browser.mjs: gave up after 180 s");
  process.exit(2);
}, 180_000);

const page_server = http.createServer((request, response) => {
  if (request.url === "/mixpanel.js") {
    response.writeHead(200, { "content-type": "text/javascript" });
    response.end(sdk);
  } else {
    response.writeHead(200, { "content-type": "text/html" });
    response.end('<!doctype html><html><head><title>shop</title><script src="/mixpanel.js"></script></head><body>shop</body></html>');
  }
});
await new Promise((resolve) => page_server.listen(0, "127.0.0.1", resolve));
const origin = `http://127.0.0.1:${page_server.address().port}`;

// Helpers every page gets before the SDK loads.
function helpers() {
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const until = async (test, what, ms = 20000) => {
    const end = Date.now() + ms;
    while (!test()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await sleep(20);
    }
  };
  window.__t = {
    sleep,
    until,
    // The answer the SDK hands a callback (the server's, or 1 when it only queued the call).
    answer: (send) =>
      new Promise((resolve) => {
        const timer = setTimeout(() => resolve("no answer within 20 s"), 20000);
        send((answer) => {
          clearTimeout(timer);
          resolve(answer);
        });
      }),
    // Records the server's answer to every batch the SDK's batchers send.
    watch_batchers: (mixpanel, flushes) => {
      for (const [type, batcher] of Object.entries(mixpanel.request_batchers)) {
        const send = batcher.sendRequest;
        batcher.sendRequest = (data, options, callback) =>
          send(data, options, (answer) => {
            flushes.push({ type, items: data.length, transport: options.transport || "XHR", answer });
            callback(answer);
          });
      }
    },
    // Flushes a batcher until its queue is empty, as its timer would (sooner).
    drain: async (batcher) => {
      const end = Date.now() + 20000;
      while (batcher.queue.memQueue.length > 0 || batcher.requestInProgress) {
        if (Date.now() > end) throw new Error("timed out flushing a batch queue");
        if (batcher.requestInProgress) await sleep(20);
        else await batcher.flush();
      }
    },
  };
}

const log = [];
const browser = await chromium.launch({
  executablePath: executable,
  args: ["--headless", "--no-sandbox", "--disable-background-networking"],
});

// Runs `body` on a fresh page (its own storage, so its own anonymous user) and waits until
// every request it sent to Tally has its answer.
async function scenario(name, body, arg = {}) {
  const context = await browser.newContext();
  const pending = new Set();
  context.on("request", (request) => {
    if (request.url().startsWith(base)) pending.add(request);
  });
  context.on("requestfinished", async (request) => {
    if (!pending.has(request)) return;
    const entry = { scenario: name, method: request.method(), url: request.url() };
    try {
      const headers = await request.allHeaders();
      entry.content_type = headers["content-type"] ?? null;
      entry.body = request.postData();
      const response = await request.response();
      entry.status = response ? response.status() : null;
      entry.answer = response ? await response.text().catch((error) => `(no body: ${error.message})`) : null;
    } catch (error) {
      entry.error = String(error);
    }
    log.push(entry);
    pending.delete(request);
  });
  context.on("requestfailed", (request) => {
    if (!pending.has(request)) return;
    log.push({ scenario: name, method: request.method(), url: request.url(), body: request.postData(), failure: request.failure()?.errorText });
    pending.delete(request);
  });
  const page = await context.newPage();
  page.on("console", (message) => console.error(`[${name}] ${message.text()}`));
  page.on("pageerror", (error) => console.error(`[${name}] page error: ${error.message}`));
  await page.addInitScript(helpers);
  await page.goto(`${origin}/${name}`);
  const out = await page.evaluate(body, { token, base, ...arg });
  // Let calls made without a callback (alias, delete_user, beacons) reach the server.
  let quiet = 0;
  for (const end = Date.now() + 20000; quiet < 5 && Date.now() < end; ) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    quiet = pending.size === 0 ? quiet + 1 : 0;
  }
  if (pending.size) log.push({ scenario: name, unanswered: [...pending].map((r) => `${r.method()} ${r.url()}`) });
  await context.close();
  return out;
}

let output = { info: {} };
const bad = [];
try {
  // One request per call: events before and after identify, a profile and a group.
  const classic = await scenario("shop", async ({ token, base }) => {
    const { answer } = window.__t;
    mixpanel.init(token, { api_host: base, batch_requests: false, persistence: "localStorage", track_pageview: false });
    const out = {};
    out.track = await answer((cb) => mixpanel.track("Browser Event", { color: "blue", count: 3 }, cb));
    mixpanel.identify("browser-user");
    out.set = await answer((cb) => mixpanel.people.set({ $email: "browser@example.com", plan: "pro" }, cb));
    out.increment = await answer((cb) => mixpanel.people.increment("visits", 4, cb));
    out.group = await answer((cb) => mixpanel.get_group("company", "initech").set({ size: 12 }, cb));
    out.after = await answer((cb) => mixpanel.track("Browser Purchase", { amount: 9.99 }, cb));
    return out;
  });

  // The SDK's default: batches. Callbacks answer 1 once a call is queued; the batchers'
  // requests (POST, verbose=1, base64 arrays) are answered {status: 1}, recorded in flushes.
  const batched = await scenario("batched", async ({ token, base }) => {
    const { answer, drain, until, sleep, watch_batchers } = window.__t;
    mixpanel.init(token, { api_host: base, persistence: "localStorage", track_pageview: false });
    const answers = {};
    const flushes = [];
    watch_batchers(mixpanel, flushes);
    answers.events = [];
    for (let n = 0; n < 5; n++) {
      answers.events.push(await answer((cb) => mixpanel.track("Batch Event", { n }, cb)));
    }
    mixpanel.identify("batch-user");
    answers.set = await answer((cb) => mixpanel.people.set({ batch: "yes" }, cb));
    answers.increment = await answer((cb) => mixpanel.people.increment("batch_visits", 2, cb));
    answers.group = await answer((cb) => mixpanel.get_group("team", "batch-team").set({ seats: 5 }, cb));
    answers.after = await answer((cb) => mixpanel.track("Batch After", { n: 5 }, cb));
    for (const batcher of Object.values(mixpanel.request_batchers)) await drain(batcher);
    answers.flushes = flushes.map((flush) => flush.answer);
    // When the page is hidden, the SDK sends what is queued with sendBeacon, as a batch.
    answers.unload = await answer((cb) => mixpanel.track("Batch Unload", { n: 6 }, cb));
    Object.defineProperty(document, "visibilityState", { configurable: true, get: () => "hidden" });
    document.dispatchEvent(new Event("visibilitychange", { bubbles: true }));
    await until(() => flushes.some((flush) => flush.transport === "sendBeacon"), "the unload beacon");
    await sleep(0);
    // The SDK keeps beaconed items for a later retry; stop it so the event is not sent twice.
    mixpanel.stop_batch_senders();
    return { answers, info: { flushes: flushes.map(({ type, items, transport }) => ({ type, items, transport })) } };
  });

  // api_method GET: data= on the query string.
  const get = await scenario("get", async ({ token, base }) => {
    const { answer } = window.__t;
    mixpanel.init(token, { api_host: base, batch_requests: false, api_method: "GET", persistence: "localStorage", track_pageview: false });
    const out = {};
    out.track = await answer((cb) => mixpanel.track("Get Event", { via: "GET" }, cb));
    mixpanel.identify("get-user");
    out.set = await answer((cb) => mixpanel.people.set({ via: "GET" }, cb));
    out.group = await answer((cb) => mixpanel.get_group("team", "get-team").set({ via: "GET" }, cb));
    return out;
  });

  // api_payload_format json: raw JSON (URL-encoded) in data=, not base64.
  const json = await scenario("json", async ({ token, base }) => {
    const { answer } = window.__t;
    mixpanel.init(token, { api_host: base, batch_requests: false, api_payload_format: "json", persistence: "localStorage", track_pageview: false });
    const out = {};
    out.track = await answer((cb) => mixpanel.track("Json Event", { via: "json", text: "café ~> +1 & more" }, cb));
    mixpanel.identify("json-user");
    out.set = await answer((cb) => mixpanel.people.set({ via: "json", text: "café ~> +1 & more" }, cb));
    out.group = await answer((cb) => mixpanel.get_group("team", "json-team").set({ via: "json" }, cb));
    return out;
  });

  // sendBeacon: text/plain bodies, no answer reaches the SDK (it answers 1 once queued).
  const beacon = await scenario("beacon", async ({ token, base }) => {
    const { answer } = window.__t;
    mixpanel.init(token, { api_host: base, batch_requests: false, persistence: "localStorage", track_pageview: false });
    const out = {};
    out.track = await answer((cb) => mixpanel.track("Beacon Event", { via: "sendBeacon" }, { transport: "sendBeacon" }, cb));
    mixpanel.set_config({ api_transport: "sendBeacon" });
    mixpanel.identify("beacon-user");
    out.set = await answer((cb) => mixpanel.people.set({ via: "sendBeacon" }, cb));
    out.group = await answer((cb) => mixpanel.get_group("team", "beacon-team").set({ via: "sendBeacon" }, cb));
    return out;
  });

  // api_routes without the trailing slash (as sites behind a proxy configure them).
  const routes = await scenario("routes", async ({ token, base }) => {
    const { answer } = window.__t;
    const api_routes = { track: "track", engage: "engage", groups: "groups" };
    mixpanel.init(token, { api_host: base, api_routes, batch_requests: false, persistence: "localStorage", track_pageview: false });
    const out = {};
    out.track = await answer((cb) => mixpanel.track("Route Event", { via: "routes" }, cb));
    out.queued = await answer((cb) => mixpanel.identify("routes-user", undefined, undefined, undefined, cb));
    out.set = await answer((cb) => mixpanel.people.set({ via: "routes" }, cb));
    out.group = await answer((cb) => mixpanel.get_group("team", "routes-team").set({ via: "routes" }, cb));
    return out;
  });

  // alias: $create_alias for the current (anonymous) id, then identify(alias) once answered.
  const alias = await scenario("alias", async ({ token, base }) => {
    const { answer, until } = window.__t;
    mixpanel.init(token, { api_host: base, batch_requests: false, persistence: "localStorage", track_pageview: false });
    const out = {};
    const anonymous = mixpanel.get_distinct_id();
    out.before = await answer((cb) => mixpanel.track("Before Alias", {}, cb));
    mixpanel.alias("alias-user");
    await until(() => mixpanel.get_property("$user_id") === "alias-user", "identify(alias) after $create_alias");
    out.after = await answer((cb) => mixpanel.track("After Alias", {}, cb));
    return { answers: out, info: { anonymous, device: mixpanel.get_property("$device_id") } };
  });

  // Every profile and group call, in order, on one identified user.
  const people = await scenario("people", async ({ token, base }) => {
    const { answer, until } = window.__t;
    mixpanel.init(token, { api_host: base, batch_requests: false, persistence: "localStorage", track_pageview: false });
    const out = {};
    const anonymous = mixpanel.get_distinct_id();
    // Before identify the SDK queues profile updates (their callbacks would answer -1);
    // identify sends them, and hands the server's answers to its own callbacks.
    mixpanel.people.set({ early_plan: "trial" });
    mixpanel.people.set_once({ early_once: "first" });
    mixpanel.people.increment("early_count", 2);
    mixpanel.people.append("early_list", "a");
    mixpanel.people.union("early_tags", ["x", "y"]);
    out.anonymous = await answer((cb) => mixpanel.track("People Anonymous", {}, cb));
    const queued = {};
    const keep = (name) => (answer) => (queued[name] = answer);
    mixpanel.identify("people-user", keep("set"), keep("increment"), keep("append"), keep("set_once"), keep("union"));
    await until(() => Object.keys(queued).length === 5, "the queued profile updates");
    out.queued = queued;

    out.set = await answer((cb) =>
      mixpanel.people.set(
        { $email: "people@example.com", $name: "People User", plan: "pro", tags: ["a", "b", "c"], temp: "gone soon", $transactions: [{ $amount: 5 }] },
        cb,
      ),
    );
    out.set_one = await answer((cb) => mixpanel.people.set("city", "Lisbon", cb));
    out.set_once = await answer((cb) => mixpanel.people.set_once({ first: "one" }, cb));
    out.set_once_again = await answer((cb) => mixpanel.people.set_once("first", "two", cb));
    out.increment = await answer((cb) => mixpanel.people.increment({ visits: 4 }, cb));
    out.increment_one = await answer((cb) => mixpanel.people.increment("visits", undefined, cb));
    out.append = await answer((cb) => mixpanel.people.append("pages", "home", cb));
    out.append_more = await answer((cb) => mixpanel.people.append({ pages: "cart" }, cb));
    out.union = await answer((cb) => mixpanel.people.union("tags", ["c", "d"], cb));
    out.remove = await answer((cb) => mixpanel.people.remove("tags", "a", cb));
    out.unset = await answer((cb) => mixpanel.people.unset("temp", cb));
    out.clear_charges = await answer((cb) => mixpanel.people.clear_charges(cb));

    // Groups of the user: its profile's list and a super property on later events.
    out.set_group = await answer((cb) => mixpanel.set_group("company", ["acme", "initech"], cb));
    out.add_group = await answer((cb) => mixpanel.add_group("company", "globex", cb));
    out.remove_group = await answer((cb) => mixpanel.remove_group("company", "acme", cb));
    out.grouped = await answer((cb) => mixpanel.track("Group Event", { n: 1 }, cb));
    out.with_groups = await answer((cb) => mixpanel.track_with_groups("With Groups", { n: 2 }, { team: ["red"] }, cb));

    // A group's own profile.
    const hooli = mixpanel.get_group("company", "hooli");
    out.group_set = await answer((cb) => hooli.set({ size: 40, tier: "gold", tags: ["a", "b"] }, cb));
    out.group_set_one = await answer((cb) => hooli.set("city", "Palo Alto", cb));
    out.group_set_once = await answer((cb) => hooli.set_once({ founded: 1998 }, cb));
    out.group_set_once_again = await answer((cb) => hooli.set_once("founded", 2001, cb));
    out.group_union = await answer((cb) => hooli.union("tags", ["b", "c"], cb));
    out.group_remove = await answer((cb) => hooli.remove("tags", "a", cb));
    out.group_unset = await answer((cb) => hooli.unset("tier", cb));
    const doomed = mixpanel.get_group("company", "doomed-co");
    out.doomed_group_set = await answer((cb) => doomed.set({ size: 1 }, cb));
    out.doomed_group_delete = await answer((cb) => doomed.delete(cb));

    // Other calls that end up as events.
    mixpanel.register({ tier: "gold" });
    mixpanel.register_once({ first_page: "people", tier: "ignored" });
    mixpanel.time_event("Timed Event");
    // track_pageview takes no callback: its request is checked in the network log.
    mixpanel.track_pageview({ page: "people" });
    out.timed = await answer((cb) => mixpanel.track("Timed Event", {}, cb));
    return { answers: out, info: { anonymous } };
  });

  // delete_user (no callback) removes the profile it names.
  const doomed = await scenario("doomed", async ({ token, base }) => {
    const { answer } = window.__t;
    mixpanel.init(token, { api_host: base, batch_requests: false, persistence: "localStorage", track_pageview: false });
    const out = {};
    // identify sends the SDK's own queued $set_once (referrer); wait for it, so that it
    // cannot reach Tally after the deletion and bring the profile back.
    out.queued = await answer((cb) => mixpanel.identify("doomed-user", undefined, undefined, undefined, cb));
    out.set = await answer((cb) => mixpanel.people.set({ doomed: true }, cb));
    mixpanel.people.delete_user();
    return out;
  });

  output = {
    ...classic,
    batched: batched.answers,
    get,
    json,
    beacon,
    routes,
    alias: alias.answers,
    people: people.answers,
    doomed,
    info: { batched: batched.info, alias: alias.info, people: people.info },
  };
} catch (error) {
  bad.push(`the script failed: ${error.stack ?? error}`);
} finally {
  await browser.close();
  page_server.close();
  clearTimeout(deadline);
}

// Every callback answer is a success: 1, or {status: 1} for verbose requests.
const check = (path, value) => {
  if (value === 1 || (value && typeof value === "object" && "status" in value && value.status === 1)) return;
  if (value && typeof value === "object" && !("status" in value)) {
    for (const [key, inner] of Object.entries(value)) check(`${path}.${key}`, inner);
  } else {
    bad.push(`${path}: ${JSON.stringify(value)}`);
  }
};
for (const [key, value] of Object.entries(output)) if (key !== "info") check(key, value);

// Every request to Tally is answered 200 with 1 or {"status":1}. Chromium drops the answers
// to sendBeacon's requests (text/plain bodies), so for those the status alone counts.
const answered = (entry) => {
  if (entry.status !== 200) return false;
  if (entry.answer === "1") return true;
  if (/^text\/plain/.test(entry.content_type ?? "") && !entry.answer) return true;
  try {
    return JSON.parse(entry.answer).status === 1;
  } catch {
    return false;
  }
};
for (const entry of log) {
  console.error(`[network] ${JSON.stringify(entry)}`);
  if (!answered(entry)) bad.push(`request: ${JSON.stringify(entry)}`);
}
// What each request to Tally carried, for the caller to check that every way of sending
// was taken: its data= decoded (raw JSON or base64 JSON), events by name, updates by operation.
const IDS = new Set(["$token", "$distinct_id", "$device_id", "$user_id", "$group_key", "$group_id", "$had_persisted_distinct_id"]);
output.info.requests = log
  .filter((entry) => entry.url)
  .map((entry) => {
    const url = new URL(entry.url);
    const data = entry.method === "GET" ? url.searchParams.get("data") : new URLSearchParams(entry.body ?? "").get("data");
    let format = "json";
    let payload;
    try {
      payload = JSON.parse(data);
    } catch {
      format = "base64";
      try {
        payload = JSON.parse(Buffer.from(data ?? "", "base64").toString("utf8"));
      } catch {
        format = "unreadable";
      }
    }
    const items = Array.isArray(payload) ? payload : payload ? [payload] : [];
    return {
      scenario: entry.scenario,
      method: entry.method,
      path: url.pathname,
      verbose: url.searchParams.get("verbose") === "1",
      content_type: (entry.content_type ?? "").split(";")[0] || null,
      format,
      batch: Array.isArray(payload),
      status: entry.status ?? null,
      events: items.filter((item) => item && item.event).map((item) => item.event),
      ops: items.flatMap((item) => (item && !item.event ? Object.keys(item).filter((key) => key.startsWith("$") && !IDS.has(key)) : [])),
    };
  });

console.log(JSON.stringify(output));
if (bad.length) console.error(`browser.mjs: not a success:\n${bad.join("\n")}`);
process.exit(bad.length ? 1 : 0);
