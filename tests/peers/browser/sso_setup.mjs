// Sets up SAML single sign-on in the web app as an Owner would: signs in with a password,
// opens Access security, gives the identity provider's metadata URL with IdP-managed
// access on, re-enters the password and saves. Reads back what the screen shows.
//   node sso_setup.mjs BASE_URL ORG_ID EMAIL PASSWORD METADATA_URL SCREENSHOT [CHROMIUM]
// Prints {"protocol", "entity_id", "acs_url", "saved"} as JSON.
import { chromium } from "playwright-core";

const [base, org, email, password, metadataUrl, screenshot, executable = "/usr/bin/chromium"] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: executable,
  args: ["--headless", "--no-sandbox", "--disable-background-networking"],
});
let code = 0;
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  page.setDefaultTimeout(20000);
  page.on("console", (message) => console.error(`[page] ${message.text()}`));
  await page.goto(`${base}/organizations/${org}/security`);
  // Signed out: the sign-in screen, then back to Access security.
  await page.waitForURL(/\/sign-in\?next=/);
  await page.fill("#email", email);
  await page.click("#use-password");
  await page.fill("#password", password);
  await page.click("#sign-in");
  await page.waitForURL(`${base}/organizations/${org}/security`);
  await page.fill("#security-password", password);
  await page.fill("#saml-metadata-url", metadataUrl);
  await page.check("#idp-managed");
  await page.click("#sso-save");
  await page.getByText("Saved.").waitFor();
  await page.getByText("SAML", { exact: true }).first().waitFor();
  const copied = async (label) =>
    (await page.getByRole("button", { name: `Copy ${label}` }).locator("xpath=preceding-sibling::code[1]").innerText()).trim();
  const result = {
    saved: true,
    protocol: (await page.locator("section[aria-label='Single sign-on']").innerText()).includes("SAML"),
    entity_id: await copied("Entity ID (Audience URI)"),
    acs_url: await copied("ACS URL (Reply URL)"),
  };
  await page.screenshot({ path: screenshot });
  console.log(JSON.stringify(result));
} catch (error) {
  console.error(String(error && error.stack ? error.stack : error));
  code = 1;
} finally {
  await browser.close();
}
process.exit(code);
