// Loads the official mixpanel-browser SDK in Debian's headless Chromium, on a page of
// another origin than Tally (so CORS is exercised), and sends events and profile updates.
// node browser.mjs BASE_URL TOKEN [CHROMIUM]
// Prints the SDK's answers as JSON; exits non-zero on any failure.
import http from "node:http";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

const [base, token, executable = "/usr/bin/chromium"] = process.argv.slice(2);
const require = createRequire(import.meta.url);
const sdk = await readFile(require.resolve("mixpanel-browser/dist/mixpanel.umd.js"));

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

const browser = await chromium.launch({
  executablePath: executable,
  args: ["--headless", "--no-sandbox", "--disable-background-networking"],
});
let failed = false;
try {
  const page = await browser.newPage();
  page.on("console", (message) => console.error(`[page] ${message.text()}`));
  await page.goto(`${origin}/shop`);
  const answers = await page.evaluate(
    async ({ token, base }) => {
      const answer = (send) => new Promise((resolve) => send(resolve));
      mixpanel.init(token, { api_host: base, batch_requests: false, persistence: "localStorage", track_pageview: false });
      const out = {};
      out.track = await answer((cb) => mixpanel.track("Browser Event", { color: "blue", count: 3 }, cb));
      mixpanel.identify("browser-user");
      out.set = await answer((cb) => mixpanel.people.set({ $email: "browser@example.com", plan: "pro" }, cb));
      out.increment = await answer((cb) => mixpanel.people.increment("visits", 4, cb));
      out.group = await answer((cb) => mixpanel.get_group("company", "initech").set({ size: 12 }, cb));
      out.after = await answer((cb) => mixpanel.track("Browser Purchase", { amount: 9.99 }, cb));
      return out;
    },
    { token, base },
  );
  console.log(JSON.stringify(answers));
  failed = Object.values(answers).some((a) => a !== 1 && !(a && a.status === 1));
} finally {
  await browser.close();
  page_server.close();
}
process.exit(failed ? 1 : 0);
