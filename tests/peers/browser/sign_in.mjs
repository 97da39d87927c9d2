// Signs in through the sign-in screen of Tally's web app in Debian's headless Chromium, as a person would.
// node sign_in.mjs BASE_URL EMAIL MODE [PASSWORD] [CHROMIUM]
//   MODE sso:      type the e-mail, Continue; the identity provider's page posts back on
//                  its own; wait for the app's home screen.
//   MODE password: "Use a password instead", type it, Sign in; wait for the home screen.
//   MODE refused:  like password, but wait for the screen's message instead.
// Prints {"url": ..., "text": ...} (the final URL and the page's main text) as JSON.
import { chromium } from "playwright-core";

const [base, email, mode, password = "", executable = "/usr/bin/chromium"] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: executable,
  args: ["--headless", "--no-sandbox", "--disable-background-networking"],
});
let code = 0;
try {
  const page = await browser.newPage();
  page.on("console", (message) => console.error(`[page] ${message.text()}`));
  await page.goto(`${base}/sign-in`);
  await page.fill("#email", email);
  if (mode === "sso") {
    await page.click("#continue");
  } else {
    await page.click("#use-password");
    await page.fill("#password", password);
    await page.click("#sign-in");
  }
  let text;
  if (mode === "refused") {
    await page.waitForFunction(() => document.getElementById("message").textContent.length > 0, null, { timeout: 20000 });
    text = await page.textContent("#message");
  } else {
    await page.waitForURL(`${base}/`, { timeout: 20000 });
    await page.getByText("Your role:").first().waitFor({ timeout: 20000 });
    text = await page.textContent("main");
  }
  console.log(JSON.stringify({ url: page.url(), text }));
} catch (error) {
  console.error(String(error));
  code = 1;
} finally {
  await browser.close();
}
process.exit(code);
