// Drives Tally's web app in Debian's headless Chromium as its people would: the first-run
// setup; an Owner inviting people, making a team, giving it Analyst on Production and
// setting Consumer for everyone; the invited people accepting and seeing what their roles
// allow; Insights, Funnels and Retention built with the mouse and keyboard; 2FA enrollment
// and a sign-in with a TOTP code; Flows, Users and a profile; the live view showing an
// event sent by mixpanel-browser; a deep link that returns after sign-in; axe-core on the
// main screens. Saves a screenshot of each main screen.
//
//   node app.mjs BASE_URL SETUP_URL SCREENSHOT_DIR [CHROMIUM]
//
// Prints what it saw as JSON on stdout; the Rust test (crates/tally-cli/tests/it/web_app.rs)
// asserts on it. Steps that cannot go on throw, and the process exits 1.
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import http from "node:http";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

const [base, setupUrl, shots, executable = "/usr/bin/chromium"] = process.argv.slice(2);
const require = createRequire(import.meta.url);
const axePath = require.resolve("axe-core/axe.min.js");
// The official mixpanel-browser SDK, from the sibling peer package.
const sdkPath = createRequire(new URL("../mixpanel-js/package.json", import.meta.url)).resolve(
  "mixpanel-browser/dist/mixpanel.umd.js",
);
const PASSWORD = "correct horse battery staple";
const facts = { csp_violations: [], page_errors: [] };
mkdirSync(shots, { recursive: true });

const browser = await chromium.launch({
  executablePath: executable,
  args: ["--headless", "--no-sandbox", "--disable-background-networking"],
});

async function context(options = {}) {
  const made = await browser.newContext({ viewport: { width: 1280, height: 860 }, ...options });
  made.setDefaultTimeout(20000);
  return made;
}

async function open(ctx) {
  const page = await ctx.newPage();
  page.on("console", (message) => {
    if (/content security policy/i.test(message.text())) facts.csp_violations.push(`${new URL(page.url()).pathname}: ${message.text()}`);
    if (message.type() === "error") console.error(`[page] ${message.text()}`);
  });
  page.on("pageerror", (error) => facts.page_errors.push(String(error)));
  return page;
}

/** Waits until no report is running and the chart's animation is over. */
async function settled(page) {
  await page.waitForLoadState("networkidle");
  await page.locator("#run-report[data-loading]").waitFor({ state: "detached" }).catch(() => {});
  await page.waitForTimeout(1200);
}

async function shot(page, name) {
  await page.waitForLoadState("networkidle");
  await page.screenshot({ path: `${shots}/${name}.png`, fullPage: false });
}

/** The API from inside the page, with its session: `{status, body}`. */
async function api(page, method, path, body) {
  return page.evaluate(
    async ({ method, path, body }) => {
      const response = await fetch(path, {
        method,
        headers: body === undefined ? {} : { "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      let json = null;
      try {
        json = await response.json();
      } catch {
        json = null;
      }
      return { status: response.status, body: json };
    },
    { method, path, body },
  );
}

/** Waits until the screen shows the answer to the report in its URL (not a previous one). */
async function answered(page, type) {
  await page.waitForURL(/report=/);
  await page.waitForFunction((type) => {
    const report = new URL(window.location.href).searchParams.get("report");
    const result = document.querySelector('[data-testid="result"]');
    if (!report || !result || result.getAttribute("aria-busy") === "true") return false;
    return result.dataset.answered === JSON.stringify({ type, ...JSON.parse(report) });
  }, type);
  await page.waitForLoadState("networkidle");
}

/** Opens a Mantine select and picks the option with this exact name. */
async function choose(page, selector, option) {
  await page.locator(selector).click();
  await page.getByRole("option", { name: option, exact: true }).click();
}

function escape(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

async function navLabels(page) {
  await page.locator("nav a").first().waitFor();
  await page.waitForLoadState("networkidle");
  return page.locator("nav a").allInnerTexts();
}

function totp(secret) {
  return execFileSync("oathtool", ["--totp", "-b", secret]).toString().trim();
}

let code = 0;
try {
  // First run: the setup link's form.
  const ownerContext = await context();
  const owner = await open(ownerContext);
  await owner.goto(setupUrl);
  await owner.fill("#setup-organization", "Acme");
  await owner.fill("#setup-name", "Ada Owner");
  await owner.fill("#setup-email", "owner@acme.example");
  await owner.fill("#setup-password", PASSWORD);
  await shot(owner, "setup");
  await owner.click("#setup-submit");
  await owner.getByText("Your role: owner").waitFor();
  await shot(owner, "home");
  const me = (await api(owner, "GET", "/api/app/me")).body.results;
  const org = me.organizations[0];
  const production = org.projects.find((p) => p.name === "Production");
  facts.org_id = org.id;
  facts.production_id = production.id;

  // Events for the reports: five sign-ups three days ago, three buyers two days ago, one
  // of them again yesterday (noon UTC, well inside each day).
  const keys = (await api(owner, "GET", `/api/app/projects/${production.id}/keys`)).body.results;
  const noon = (daysAgo) => {
    const day = new Date();
    day.setUTCHours(12, 0, 0, 0);
    return Math.floor(day.getTime() / 1000) - daysAgo * 86400;
  };
  const rows = [];
  for (const user of ["u1", "u2", "u3", "u4", "u5"]) rows.push(["Sign up", user, noon(3)]);
  for (const user of ["u1", "u2", "u3"]) rows.push(["Purchase", user, noon(2)]);
  rows.push(["Purchase", "u1", noon(1)]);
  const events = rows.map(([event, user, time], i) => ({
    event,
    properties: { distinct_id: user, time, $insert_id: `web-app-${i}`, plan: user === "u1" ? "pro" : "free" },
  }));
  facts.import_status = await owner.evaluate(
    async ({ secret, events }) =>
      (
        await fetch("/import?strict=1", {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Basic ${btoa(`${secret}:`)}` },
          body: JSON.stringify(events),
        })
      ).status,
    { secret: keys.api_secret, events },
  );

  // Profiles for the Users screen: u1 is on the pro plan.
  facts.engage_status = await owner.evaluate(
    async ({ token }) => {
      const updates = ["u1", "u2", "u3", "u4", "u5"].map((user, i) => ({
        $token: token,
        $distinct_id: user,
        $set: { $name: `User ${i + 1}`, plan: user === "u1" ? "pro" : "free" },
      }));
      const body = new URLSearchParams({ data: JSON.stringify(updates) });
      return (await fetch("/engage", { method: "POST", body })).status;
    },
    { token: production.token },
  );

  // The Owner invites a member, an Admin, a Billing Admin and a project Admin.
  await owner.goto(`${base}/organizations/${org.id}/members`);
  const invite = async (email, role, project) => {
    await owner.fill("#invite-emails", email);
    await choose(owner, "#invite-role", role);
    if (project) {
      await choose(owner, "#invite-project", project.name);
      await choose(owner, "#invite-project-role", project.role);
    }
    await owner.click("#invite-submit");
    await owner.getByTestId("invite-outcome").getByText(email).waitFor();
  };
  await invite("member@acme.example", "Member");
  await invite("admin@acme.example", "Admin");
  await invite("billing@acme.example", "Billing Admin");
  await invite("padmin@acme.example", "Member", { name: "Production", role: "Admin" });
  // A CSV of 30 people goes in two batches, with progress, and every row gets its result.
  const bulkRows = Array.from({ length: 30 }, (_, i) => `bulk${i}@team${i}.example,member`);
  const [chooser] = await Promise.all([owner.waitForEvent("filechooser"), owner.click("#invite-csv")]);
  await chooser.setFiles({ name: "people.csv", mimeType: "text/csv", buffer: Buffer.from(["email,organization_role", ...bulkRows].join("\n")) });
  await owner.locator("#csv-invite-progress").waitFor().catch(() => {});
  await owner.getByTestId("invite-outcome").getByText("bulk29@team29.example").waitFor();
  facts.csv_invite = {
    outcome: await owner.getByTestId("invite-outcome").innerText(),
    pending: (await api(owner, "GET", `/api/app/organizations/${org.id}/invitations`)).body.results.filter((invitation) =>
      invitation.email.startsWith("bulk"),
    ).length,
  };
  await owner.reload();
  const links = {};
  for (const email of ["member@acme.example", "admin@acme.example", "billing@acme.example", "padmin@acme.example"]) {
    const row = owner.getByTestId("invitations").getByRole("row", { name: new RegExp(`^${escape(email)}`) });
    await row.getByRole("button", { name: "Get link" }).click();
    links[email] = await row.getByRole("button", { name: /Copy link|Copied/ }).getAttribute("data-link");
  }
  await shot(owner, "members");

  // Each accepts in a browser of their own, choosing a password.
  const people = {};
  for (const email of Object.keys(links)) {
    const ctx = await context();
    const page = await open(ctx);
    await page.goto(links[email]);
    await page.getByText(`Invitation for ${email}.`).waitFor();
    await page.fill("#accept-name", email.split("@")[0]);
    await page.fill("#accept-password", PASSWORD);
    await page.click("#accept");
    await page.getByTestId("home").waitFor();
    people[email] = page;
  }

  // A team with the member, Analyst on Production.
  await owner.goto(`${base}/organizations/${org.id}/teams`);
  await owner.fill("#team-name", "Analysts");
  await owner.click("#team-create");
  const team = owner.getByTestId("team-Analysts");
  await team.waitFor();
  await choose(owner, 'input[aria-label="Person to add to Analysts"]', "member@acme.example");
  await team.getByRole("button", { name: "Add", exact: true }).click();
  await team.getByText("member@acme.example").first().waitFor();
  await choose(owner, 'input[aria-label="Project for Analysts"]', "Production");
  await choose(owner, 'input[aria-label="Role on the project for Analysts"]', "Analyst");
  await team.getByRole("button", { name: "Give role" }).click();
  await team.getByText("Production: Analyst").waitFor();
  await shot(owner, "teams");

  // A service account for Production's reports: its secret shown once, and working.
  await owner.goto(`${base}/organizations/${org.id}/service-accounts`);
  await owner.fill("#sa-username", "etl-bot");
  await choose(owner, "#sa-project", "Production");
  await choose(owner, "#sa-project-role", "Analyst");
  await owner.click("#sa-create");
  await owner.getByTestId("service-account-secret").waitFor();
  const saSecret = (await owner.getByTestId("service-account-token").innerText()).trim();
  await owner.getByTestId("service-accounts").getByText("etl-bot").first().waitFor();
  await shot(owner, "service-accounts");
  facts.service_account = await owner.evaluate(async ({ secret, orgId }) => {
    const listed = await (await fetch(`/api/app/organizations/${orgId}/service-accounts`)).json();
    const username = listed.results.find((a) => a.username.startsWith("etl-bot")).username;
    const response = await fetch("/api/app/me", { credentials: "omit", headers: { authorization: `Basic ${btoa(`${username}:${secret}`)}` } });
    const me = await response.json();
    return { status: response.status, type: me.results?.user?.type, projects: me.results?.organizations?.[0]?.projects?.map((p) => p.name) };
  }, { secret: saSecret, orgId: org.id });

  // The audit log shows the team made above, filtered by its event type.
  await owner.goto(`${base}/organizations/${org.id}/audit-log`);
  await owner.getByTestId("audit-log").waitFor();
  await owner.fill("#audit-event-type", "team.created");
  await owner.click("#audit-apply");
  await owner.waitForURL(/event_type=team.created/);
  await owner.waitForLoadState("networkidle");
  // The URL changes before the filtered page arrives: wait (up to 10 s) for the table to
  // show it, then read whatever it shows (the test asserts on that).
  await owner
    .waitForFunction(() => {
      const rows = [...document.querySelectorAll('[data-testid="audit-log"] tbody tr')];
      return rows.length > 0 && rows.every((row) => row.innerText.includes("team.created"));
    }, null, { timeout: 10000 })
    .catch(() => {});
  facts.audit_rows = await owner.getByTestId("audit-log").locator("tbody tr").allInnerTexts();
  await shot(owner, "audit-log");

  // Consumer for everyone in the organization.
  await owner.goto(`${base}/projects/${production.id}/settings/users`);
  await choose(owner, "#default-role", "Consumer");
  await owner.getByTestId("project-members").getByText("Consumer · all_users").first().waitFor();
  await shot(owner, "project-users");
  facts.project_members = (await api(owner, "GET", `/api/app/projects/${production.id}/members`)).body.results;

  // A custom role: Consumer's reading plus exporting events.
  await owner.goto(`${base}/projects/${production.id}/settings/roles`);
  await owner.click("#role-new");
  await owner.fill("#role-name", "Exporter");
  await owner.fill("#role-description", "Reads reports and exports events");
  // Each permission says what it allows, in the checkbox's accessible description.
  const exportBox = owner.getByLabel("Export events", { exact: true });
  const describedBy = await exportBox.getAttribute("aria-describedby");
  facts.export_permission_description = describedBy ? await owner.locator(`[id="${describedBy}"]`).innerText() : "";
  await owner.getByLabel("Export events", { exact: true }).check();
  await owner.click("#role-save");
  await owner.getByTestId("role-Exporter").waitFor();
  await shot(owner, "roles");
  facts.custom_roles = (await api(owner, "GET", `/api/app/projects/${production.id}/custom-roles`)).body.results;

  // The member sees exactly what Analyst allows.
  const member = people["member@acme.example"];
  await member.goto(`${base}/projects/${production.id}/settings`);
  facts.member_nav = await navLabels(member);
  facts.member_keys_refused = (await member.getByTestId("not-allowed").allInnerTexts()).join(" | ");
  await member.goto(`${base}/organizations/${org.id}/teams`);
  await member.getByTestId("team-Analysts").waitFor();
  facts.member_teams = {
    create_offered: await member.locator("#team-create").count(),
    not_allowed: await member.getByTestId("not-allowed").first().innerText(),
    server: (await api(member, "POST", `/api/app/organizations/${org.id}/teams`, { name: "Sneaky" })).status,
  };
  await member.goto(`${base}/projects/${production.id}/settings/users`);
  await member.getByTestId("project-members").waitFor();
  facts.member_project_users = {
    default_role_offered: await member.locator("#default-role").count(),
    server: (await api(member, "PUT", `/api/app/projects/${production.id}/default-role`, { role: "owner" })).status,
  };

  // Insights, Funnels and Retention with the mouse and keyboard, as the member (Analyst).
  const report = async (page) => JSON.parse(new URL(page.url()).searchParams.get("report"));
  await member.goto(`${base}/projects/${production.id}/insights`);
  await choose(member, "#metric-0-event", "Purchase");
  await choose(member, "#metric-0-measure", "Unique users");
  await member.click("#run-report");
  await answered(member, "insights");
  const insights = await report(member);
  facts.insights = {
    ui: Number(await member.getByTestId("series-total").first().getAttribute("data-value")),
    api: (await api(member, "POST", `/api/app/projects/${production.id}/query`, { type: "insights", ...insights })).body.results,
  };
  // The keyboard: a second metric (total purchases) added and chosen without the mouse.
  await member.getByRole("button", { name: "+ Metric" }).focus();
  await member.keyboard.press("Enter");
  await member.locator("#metric-1-event").focus();
  await member.keyboard.press("Control+A");
  await member.keyboard.type("Purcha");
  await member.getByRole("option", { name: "Purchase", exact: true }).waitFor();
  await member.keyboard.press("ArrowDown");
  await member.keyboard.press("Enter");
  await member.locator("#metric-1-measure").focus();
  await member.keyboard.press("ArrowDown");
  await member.getByRole("option", { name: "Total events", exact: true }).click();
  await member.click("#run-report");
  await answered(member, "insights");
  facts.insights_two = {
    ui: (await member.getByTestId("series-total").evaluateAll((cells) => cells.map((c) => Number(c.dataset.value)))),
    report: await report(member),
  };
  await settled(member);
  await shot(member, "insights");
  // Back returns to the one-metric report.
  await member.goBack();
  await answered(member, "insights");
  facts.back_button_metrics = (await report(member)).metrics.length;
  facts.back_button_series = await member.getByTestId("series-total").count();
  // Forward again, then a formula over the two metrics and the period before.
  await member.goForward();
  await answered(member, "insights");
  await member.getByRole("button", { name: "+ Formula" }).click();
  await member.fill("#formula-0-expression", "B / A");
  await member.fill("#formula-0-label", "Purchases per buyer");
  await member.check("#compare");
  await member.click("#run-report");
  await answered(member, "insights");
  facts.insights_formula = {
    ui: await member.getByTestId("series-total").evaluateAll((cells) => cells.map((c) => Number(c.dataset.value))),
    names: await member.locator("[data-series]").evaluateAll((rows) => rows.map((row) => row.dataset.series)),
    previous: await member.getByTestId("series-previous").evaluateAll((cells) => cells.map((c) => c.dataset.value)),
    report: await report(member),
  };
  await settled(member);
  await shot(member, "insights-formula");

  await member.goto(`${base}/projects/${production.id}/funnels`);
  await choose(member, "#step-0", "Sign up");
  await choose(member, "#step-1", "Purchase");
  await member.click("#run-report");
  await answered(member, "funnels");
  const funnel = await report(member);
  facts.funnel = {
    ui: await member.getByTestId("step-count").evaluateAll((cells) => cells.map((c) => Number(c.dataset.value))),
    api: (await api(member, "POST", `/api/app/projects/${production.id}/query`, { type: "funnels", ...funnel })).body.results,
  };
  await settled(member);
  await shot(member, "funnels");
  // Who bought: the people at step 2, listed from the table, lead to their profiles; the
  // time-to-convert tab draws its chart.
  await member.getByTestId("step-1-users").click();
  const bought = member.getByRole("list", { name: "Reached step 2" });
  await bought.waitFor();
  facts.funnel.people = await bought.getByRole("listitem").allInnerTexts();
  // The buyers saved as a cohort, which then counts them and filters Insights by them.
  await member.getByRole("button", { name: "Save as cohort" }).first().click();
  const cohortDialog = member.getByRole("dialog", { name: "Save as cohort" });
  await cohortDialog.locator("#save-cohort-name").fill("Buyers");
  await cohortDialog.getByRole("button", { name: "Save cohort" }).click();
  await cohortDialog.getByRole("link", { name: "Open the cohort" }).click();
  await member.getByTestId("cohort-member-count").waitFor();
  await member.getByTestId("cohort-members").waitFor();
  facts.cohort = {
    count: Number(await member.getByTestId("cohort-member-count").getAttribute("data-value")),
    summary: await member.getByTestId("cohort-summary").innerText(),
  };
  await settled(member);
  await shot(member, "cohort");
  await member.goBack();
  await answered(member, "funnels");
  await member.getByTestId("step-1-users").click();
  await bought.waitFor();
  await bought.getByRole("listitem").first().click();
  await member.waitForURL(/\/users\//);
  facts.funnel.profile_url = new URL(member.url()).pathname;
  await member.goBack();
  await answered(member, "funnels");
  await member.getByRole("tab", { name: "Time to convert" }).click();
  // ECharts describes the chart in its aria-label (the buckets and their values).
  const timeChart = member.getByRole("tabpanel", { name: "Time to convert" }).getByTestId("chart");
  await timeChart.waitFor({ timeout: 5000 }).catch(() => {});
  facts.funnel.time_chart = await timeChart.getAttribute("aria-label").catch(() => "");
  // Broken down by the users' plan, counting sessions: a row per plan, as the API answers.
  await choose(member, "#funnel-breakdown", "plan (user)");
  await choose(member, "#counting", "Sessions");
  await member.click("#run-report");
  await answered(member, "funnels");
  await member.getByTestId("funnel-segment-table").waitFor();
  const segmented = await report(member);
  facts.funnel_segments = {
    report: segmented,
    ui: await member.locator('[data-testid="funnel-segment-table"] tr[data-segment]').evaluateAll((rows) =>
      rows.map((row) => ({
        segment: row.dataset.segment,
        counts: [...row.querySelectorAll('[data-testid="segment-step-count"]')].map((cell) => Number(cell.dataset.value)),
      })),
    ),
    api: (await api(member, "POST", `/api/app/projects/${production.id}/query`, { type: "funnels", ...segmented })).body.results,
  };
  await settled(member);
  await shot(member, "funnel-segments");

  await member.goto(`${base}/projects/${production.id}/retention`);
  await choose(member, "#born-event", "Sign up");
  await choose(member, "#return-event", "Purchase");
  await member.click("#run-report");
  await answered(member, "retention");
  const retention = await report(member);
  facts.retention = {
    ui: await member.locator('[data-cohort="all"] td[data-value]').evaluateAll((cells) => cells.map((c) => Number(c.dataset.value))),
    average: await member.locator('[data-cohort="average"] td[data-value]').evaluateAll((cells) => cells.map((c) => c.dataset.value)),
    api: (await api(member, "POST", `/api/app/projects/${production.id}/query`, { type: "retention", ...retention })).body.results,
  };
  await settled(member);
  await shot(member, "retention");
  // The users of the "all" row's bucket 0, saved as a cohort of exactly them.
  await member.getByRole("button", { name: "Users of All users, bucket 0" }).click();
  const cellDialog = member.getByRole("dialog", { name: "Save as cohort" });
  await cellDialog.getByTestId("save-cohort-count").waitFor();
  const cellUsers = Number(await cellDialog.getByTestId("save-cohort-count").getAttribute("data-value"));
  await cellDialog.locator("#save-cohort-name").fill("Bought after signing up");
  await cellDialog.locator("#save-cohort-submit").click();
  await cellDialog.getByText("Saved “Bought after signing up”").waitFor();
  await member.keyboard.press("Escape");
  const savedCohorts = (await api(member, "GET", `/api/app/projects/${production.id}/cohorts`)).body.results;
  const cellCohort = savedCohorts.find((cohort) => cohort.name === "Bought after signing up");
  facts.retention_cohort = {
    dialog_users: cellUsers,
    saved_users: cellCohort
      ? (await api(member, "GET", `/api/app/projects/${production.id}/cohorts/${cellCohort.id}/users`)).body.results.count
      : null,
  };
  await member.getByRole("tab", { name: "Heat map" }).click();
  const heat = member.getByRole("tabpanel", { name: "Heat map" }).getByTestId("chart");
  await heat.waitFor({ timeout: 5000 }).catch(() => {});
  facts.retention.heatmap = await heat.getAttribute("aria-label").catch(() => "");
  await settled(member);
  await shot(member, "retention-heatmap");
  // Broken down by the users' plan: a table per plan, whose users add up to the whole.
  await choose(member, "#retention-breakdown", "plan (user)");
  await member.click("#run-report");
  await answered(member, "retention");
  await member.getByTestId("retention-segment").first().waitFor();
  facts.retention_segments = await member.getByTestId("retention-segment").evaluateAll((sections) =>
    sections.map((section) => ({
      segment: section.dataset.segment,
      first: Number(section.querySelector('[data-cohort="all"] [data-testid="cohort-first"]')?.dataset.value),
    })),
  );
  await settled(member);
  await shot(member, "retention-breakdown");
  await choose(member, "#retention-breakdown", "None");
  await member.click("#run-report");
  await answered(member, "retention");
  // Custom brackets: the columns name the joined days, the counts are the API's.
  await member.locator("#retention-brackets").fill("1, 3, 7");
  await member.click("#run-report");
  await answered(member, "retention");
  const bracketed = await report(member);
  facts.retention_brackets = {
    report: bracketed,
    headers: await member.locator("th").allInnerTexts(),
    ui: await member.locator('[data-cohort="all"] td[data-value]').evaluateAll((cells) => cells.map((c) => Number(c.dataset.value))),
    api: (await api(member, "POST", `/api/app/projects/${production.id}/query`, { type: "retention", ...bracketed })).body.results,
  };
  await member.locator("#retention-brackets").fill("");
  // Recurring cohorts: a buyer is in every day's row they bought on.
  await choose(member, "#born-event", "Purchase");
  await choose(member, "#retention-kind", "Recurring");
  await member.click("#run-report");
  await answered(member, "retention");
  const recurring = await report(member);
  facts.recurring = {
    kind: recurring.kind,
    ui: await member.locator('[data-cohort="all"] [data-testid="cohort-first"]').getAttribute("data-value"),
    api: (await api(member, "POST", `/api/app/projects/${production.id}/query`, { type: "retention", ...recurring })).body.results,
  };

  // Flows: what users did after signing up.
  await member.goto(`${base}/projects/${production.id}/flows`);
  await choose(member, "#flows-anchor", "Sign up");
  await member.click("#run-report");
  await answered(member, "flows");
  const flows = await report(member);
  facts.flows = {
    ui: Number(await member.getByTestId("flow-users").getAttribute("data-value")),
    api: (await api(member, "POST", `/api/app/projects/${production.id}/query`, { type: "flows", ...flows })).body.results,
  };
  await settled(member);
  await shot(member, "flows");

  // Boards: the Insights report saved to a new board, which shows it with the same total;
  // the Owner turns public links on, the member makes one, and a signed-out visitor opens
  // the board through it.
  await member.goto(`${base}/projects/${production.id}/insights?report=${encodeURIComponent(JSON.stringify(insights))}`);
  await answered(member, "insights");
  const savedTotal = Number(await member.getByTestId("series-total").first().getAttribute("data-value"));
  await member.click("#save-report");
  const saving = member.getByRole("dialog");
  await saving.locator("#save-report-name").fill("Purchases this month");
  await choose(member, "#save-report-board", "New board…");
  await saving.locator("#save-report-new-board").fill("Weekly review");
  await saving.getByRole("button", { name: "Save to board" }).click();
  await member.getByTestId("report-saved").waitFor();
  await member.goto(`${base}/projects/${production.id}/boards`);
  await member.getByTestId("boards").getByRole("link", { name: "Weekly review" }).click();
  const cardTotal = member.getByTestId("card-result").getByTestId("series-total").first();
  await cardTotal.waitFor();
  facts.board = { insights_total: savedTotal, card_total: Number(await cardTotal.getAttribute("data-value")) };
  facts.board.cards = await member.getByTestId("board-card").count();
  await settled(member);
  await shot(member, "board");
  const boardPath = new URL(member.url()).pathname;
  await owner.goto(`${base}/projects/${production.id}/settings`);
  await owner.locator("#public-boards").click();
  await owner.waitForFunction(() => document.querySelector("#public-boards")?.checked === true);
  await owner.waitForLoadState("networkidle");
  await member.goto(`${base}${boardPath}`);
  await member.getByRole("button", { name: "Public link" }).click();
  await member.getByRole("button", { name: "Make a link" }).click();
  const linkUrl = (await member.getByTestId("public-link-url").innerText()).trim();
  facts.board.public_url = linkUrl;
  const visitor = await (await context()).newPage();
  await visitor.goto(linkUrl);
  const publicTotal = visitor.getByTestId("card-result").getByTestId("series-total").first();
  await publicTotal.waitFor().catch(async () => {
    facts.board.public_body = await visitor.locator("body").innerText();
  });
  facts.board.public_total = Number(await publicTotal.getAttribute("data-value"));
  facts.board.public_title = await visitor.locator("h1").first().innerText();
  facts.board.public_signed_in = await visitor.getByRole("button", { name: "Sign out" }).count();
  await settled(visitor);
  await shot(visitor, "public-board");

  // An alert on the saved report, made from its board card, and a test alert sent.
  await member.goto(`${base}${boardPath}`);
  await member.getByRole("button", { name: "Create alert on Purchases this month" }).click();
  const alertDialog = member.getByRole("dialog", { name: "New alert" });
  await alertDialog.locator("#alert-condition-value").fill("1");
  await alertDialog.locator("#alert-save").click();
  await member.getByTestId("alert-created").waitFor();
  await member.goto(`${base}/projects/${production.id}/alerts`);
  const alertCard = member.getByTestId("alert").first();
  await alertCard.waitFor();
  await alertCard.getByRole("button", { name: /^Send test alert for/ }).click();
  await member.getByTestId("alert-test-result").waitFor();
  facts.alert = {
    status: await alertCard.getByTestId("alert-status").getAttribute("data-status"),
    test_delivered: await member.getByTestId("alert-test-result").getAttribute("data-delivered"),
    api: (await api(member, "GET", `/api/app/projects/${production.id}/alerts`)).body.results.map((alert) => ({
      name: alert.name,
      condition: alert.condition,
      emails: alert.emails,
    })),
  };
  await settled(member);
  await shot(member, "alerts");

  // An annotation with a new tag, then the list filtered by that tag.
  await member.goto(`${base}/projects/${production.id}/annotations`);
  await member.locator("#annotation-new").click();
  const noteDialog = member.getByRole("dialog", { name: "New annotation" });
  await noteDialog.locator("#annotation-description").fill("Spring launch");
  await noteDialog.locator("#annotation-tags").fill("Launch");
  await noteDialog.locator("#annotation-tags").press("Enter");
  await noteDialog.locator("#annotation-save").click();
  await noteDialog.waitFor({ state: "hidden" });
  await member.getByTestId("annotations-list").getByText("Spring launch").waitFor();
  await choose(member, "#annotation-tag-filter", "Launch");
  await member.getByTestId("annotation-count").getByText("tagged Launch").waitFor();
  const tagNames = Object.fromEntries(
    (await api(member, "GET", `/api/app/projects/${production.id}/annotations/tags`)).body.results.map((tag) => [tag.id, tag.name]),
  );
  facts.annotation = {
    count: await member.getByTestId("annotation-count").innerText(),
    api: (await api(member, "GET", `/api/app/projects/${production.id}/annotations`)).body.results.map((note) => ({
      description: note.description,
      tags: (note.tags ?? []).map((id) => tagNames[id]),
    })),
  };

  // The Owner asks for a person's data; the retrieval is done and can be downloaded.
  await owner.goto(`${base}/projects/${production.id}/settings/privacy`);
  await owner.locator("#privacy-distinct-ids").fill("someone-to-retrieve");
  await owner.locator("#privacy-submit").click();
  await owner.getByTestId("privacy-task").waitFor();
  await owner.waitForFunction(
    () => document.querySelector('tr[data-kind="retrieval"]')?.dataset.status === "SUCCESS",
    null,
    { timeout: 30000 },
  );
  facts.privacy = {
    download: await owner.getByRole("link", { name: /^Download retrieval/ }).count(),
    api: (await api(owner, "GET", `/api/app/projects/${production.id}/privacy-requests`)).body.results.map((request) => ({
      kind: request.kind,
      status: request.status,
      distinct_ids: request.distinct_ids,
    })),
  };
  await settled(owner);
  await shot(owner, "privacy-requests");

  // Users: the profiles on the pro plan, then one user's profile and activity.
  await member.goto(`${base}/projects/${production.id}/users`);
  await member.getByTestId("users-total").waitFor();
  facts.users_total_all = Number(await member.getByTestId("users-total").getAttribute("data-value"));
  await member.fill("#users-where", 'properties["plan"] == "pro"');
  await member.click("#users-apply");
  await member.waitForFunction(() => {
    const result = document.querySelector('[data-testid="users-result"]');
    return result && result.dataset.answered === new URLSearchParams(location.search).toString() && result.getAttribute("aria-busy") !== "true";
  });
  facts.users_total_pro = Number(await member.getByTestId("users-total").getAttribute("data-value"));
  await shot(member, "users");
  await member.getByTestId("user-link").first().click();
  await member.getByTestId("activity-table").waitFor();
  facts.profile = {
    id: await member.getByTestId("profile-distinct-id").innerText(),
    events: await member.locator('[data-testid="activity-table"] tr[data-event]').evaluateAll((rows) => rows.map((r) => r.dataset.event)),
  };
  await shot(member, "user-profile");

  // The Billing Admin: billing, and no project data.
  const billing = people["billing@acme.example"];
  await billing.goto(`${base}/`);
  facts.billing_home = await billing.getByTestId("home").innerText();
  await billing.goto(`${base}/organizations/${org.id}/billing`);
  await billing.getByTestId("plan").waitFor();
  facts.billing_nav = await navLabels(billing);
  // Production is open to everyone as Consumer (the default role set above); Development,
  // with no default role, is not open to a Billing Admin.
  const development = org.projects.find((p) => p.name === "Development");
  facts.billing_development_status = (await api(billing, "GET", `/api/app/projects/${development.id}`)).status;
  facts.billing_development_query_status = (
    await api(billing, "POST", `/api/app/projects/${development.id}/query`, { type: "insights", ...insights })
  ).status;
  await billing.goto(`${base}/projects/${development.id}/insights`);
  facts.billing_development_screen = await billing.locator("main").innerText();
  await shot(billing, "billing");

  // The project Admin manages the project's users, not teams.
  const padmin = people["padmin@acme.example"];
  await padmin.goto(`${base}/projects/${production.id}/settings/users`);
  await padmin.locator("#default-role").waitFor();
  facts.padmin = {
    default_role_offered: await padmin.locator("#default-role").count(),
    grant: (await api(padmin, "GET", `/api/app/projects/${production.id}/permissions`)).body.results.grants,
  };
  await padmin.goto(`${base}/organizations/${org.id}/teams`);
  await padmin.getByTestId("team-Analysts").waitFor();
  facts.padmin.create_team_offered = await padmin.locator("#team-create").count();
  facts.padmin.create_team_status = (await api(padmin, "POST", `/api/app/organizations/${org.id}/teams`, { name: "Mine" })).status;

  // The live view: the Owner watches Events while mixpanel-browser, on a page of another
  // origin, tracks an event with the project's token.
  await owner.goto(`${base}/projects/${production.id}/events`);
  // The seeded events are days old: depending on the hour, the last day may hold none yet.
  await owner.getByTestId("live-events").or(owner.getByText("No event in the last day yet.")).waitFor();
  const sdk = readFileSync(sdkPath);
  const shop = http.createServer((request, response) => {
    if (request.url === "/mixpanel.js") {
      response.writeHead(200, { "content-type": "text/javascript" });
      response.end(sdk);
    } else {
      response.writeHead(200, { "content-type": "text/html" });
      response.end('<!doctype html><html><head><title>shop</title><script src="/mixpanel.js"></script></head><body>shop</body></html>');
    }
  });
  await new Promise((resolve) => shop.listen(0, "127.0.0.1", resolve));
  const shopPage = await (await context()).newPage();
  await shopPage.goto(`http://127.0.0.1:${shop.address().port}/`);
  facts.sdk_answer = await shopPage.evaluate(
    ({ base, token }) =>
      new Promise((resolve) => {
        window.mixpanel.init(token, { api_host: base, batch_requests: false });
        window.mixpanel.identify("live-visitor");
        window.mixpanel.track("Live test", { source: "web-app test" }, (answer) => resolve(answer));
      }),
    { base, token: production.token },
  );
  shop.close();
  await owner.getByTestId("live-event-name").filter({ hasText: "Live test" }).first().waitFor({ timeout: 15000 });
  facts.live_names = await owner.getByTestId("live-event-name").allInnerTexts();
  await shot(owner, "events");

  // The Owner enrolls an authenticator app, signs out, and signs in with a TOTP code.
  await owner.goto(`${base}/account`);
  await owner.fill("#enroll-password", PASSWORD);
  await owner.click("#enroll-totp");
  const secret = (await owner.getByTestId("totp-secret").innerText()).trim();
  const first = totp(secret);
  await owner.fill("#enroll-code", first);
  await owner.click("#enroll-confirm");
  await owner.getByTestId("recovery-codes").waitFor();
  facts.recovery_codes = (await owner.getByTestId("recovery-codes").locator("li").count());
  await shot(owner, "two-factor");
  await owner.click("#recovery-codes-done");
  await owner.getByTestId("two-factor-state").getByText("authenticator app").waitFor();
  await owner.getByRole("button", { name: "Sign out" }).click();
  await owner.waitForURL(/\/sign-in/);
  // A deep link while signed out asks to sign in, then returns to it.
  const deep = `${base}/projects/${production.id}/lexicon`;
  await owner.goto(deep);
  await owner.waitForURL(/\/sign-in\?next=/);
  await owner.fill("#email", "owner@acme.example");
  await owner.click("#continue");
  await owner.fill("#password", PASSWORD);
  await owner.click("#sign-in");
  await owner.locator("#code").waitFor();
  // The enrollment's code counts once: wait for the next one.
  let next = totp(secret);
  for (let i = 0; i < 40 && next === first; i++) {
    await owner.waitForTimeout(1000);
    next = totp(secret);
  }
  await owner.fill("#code", next);
  await owner.click("#verify");
  await owner.waitForURL(deep);
  await owner.getByTestId("lexicon").waitFor();
  facts.deep_link_after_totp = owner.url();
  // The Owner names and describes an event in the Lexicon.
  await owner.getByRole("button", { name: "Edit Purchase", exact: true }).first().click();
  const lexiconDialog = owner.getByRole("dialog", { name: "Edit Purchase" });
  await lexiconDialog.getByLabel("Display name").fill("Bought");
  await lexiconDialog.getByLabel("Description").fill("A completed order");
  await lexiconDialog.getByRole("button", { name: "Save" }).click();
  await lexiconDialog.waitFor({ state: "hidden" });
  await owner.getByTestId("lexicon").getByText("A completed order").waitFor();
  facts.lexicon_edit = (await api(owner, "GET", `/api/app/projects/${production.id}/lexicon`)).body.results.events.find(
    (event) => event.name === "Purchase",
  );
  await shot(owner, "lexicon");
  // The Owner makes a data view of purchases only; the view picker then offers it.
  await owner.goto(`${base}/projects/${production.id}/settings/data-views`);
  await owner.locator("#data-view-new").click();
  const viewDialog = owner.getByRole("dialog", { name: "New data view" });
  await viewDialog.getByLabel("Name").fill("Purchases only");
  const viewEvents = viewDialog.getByLabel("Events");
  await viewEvents.fill("Purchase");
  await viewEvents.press("Enter");
  await viewDialog.getByRole("button", { name: "Create data view" }).click();
  await viewDialog.waitFor({ state: "hidden" });
  await owner.getByRole("region", { name: "Data view Purchases only" }).waitFor();
  facts.data_views = (await api(owner, "GET", `/api/app/projects/${production.id}/data-views`)).body.results.map(
    (view) => ({ name: view.name, events: view.filters.events }),
  );
  await owner.locator("#data-view-picker").waitFor();
  facts.data_view_picker = await owner.locator("#data-view-picker").isVisible();
  await shot(owner, "data-views");

  // The Owner requires a second factor; the project Admin, who has none, is made to enroll
  // an authenticator app at the next sign-in before anything opens.
  await owner.goto(`${base}/organizations/${org.id}/security`);
  await owner.fill("#security-password", PASSWORD);
  // The switch shows the server's state: it turns on once the server has saved it.
  await owner.locator("#require-2fa").click();
  await owner.waitForFunction(() => document.querySelector("#require-2fa")?.checked === true);
  await owner.waitForLoadState("networkidle");
  facts.require_2fa = (await api(owner, "GET", `/api/app/organizations/${org.id}/security`)).body.results.require_two_factor;
  const enrolling = await open(await context());
  await enrolling.goto(`${base}/sign-in`);
  await enrolling.fill("#email", "padmin@acme.example");
  await enrolling.click("#continue");
  await enrolling.fill("#password", PASSWORD);
  await enrolling.click("#sign-in");
  await enrolling.click("#enroll-start");
  const padminSecret = (await enrolling.getByTestId("totp-secret").innerText()).trim();
  await enrolling.fill("#enroll-code", totp(padminSecret));
  await enrolling.click("#enroll-confirm");
  await enrolling.getByTestId("recovery-codes").waitFor();
  await shot(enrolling, "forced-enrollment");
  await enrolling.click("#recovery-codes-done");
  await enrolling.getByTestId("home").waitFor();
  facts.forced_enrollment = {
    home: await enrolling.getByTestId("home").innerText(),
    factor: (await api(enrolling, "GET", "/api/app/me/two-factor")).body.results.method,
  };

  // axe-core on the main screens (its script is injected, so this browser skips the CSP).
  const state = await ownerContext.storageState();
  const axeContext = await context({ storageState: state, bypassCSP: true });
  const axePage = await axeContext.newPage();
  facts.axe = {};
  const screens = {
    home: "/",
    members: `/organizations/${org.id}/members`,
    teams: `/organizations/${org.id}/teams`,
    security: `/organizations/${org.id}/security`,
    project_users: `/projects/${production.id}/settings/users`,
    insights: `/projects/${production.id}/insights?report=${encodeURIComponent(JSON.stringify(insights))}`,
    funnels: `/projects/${production.id}/funnels?report=${encodeURIComponent(JSON.stringify(funnel))}`,
    retention: `/projects/${production.id}/retention?report=${encodeURIComponent(JSON.stringify(retention))}`,
    account: "/account",
    service_accounts: `/organizations/${org.id}/service-accounts`,
    audit_log: `/organizations/${org.id}/audit-log`,
    flows: `/projects/${production.id}/flows?report=${encodeURIComponent(JSON.stringify(flows))}`,
    users: `/projects/${production.id}/users`,
    project_settings: `/projects/${production.id}/settings`,
    roles: `/projects/${production.id}/settings/roles`,
    billing: `/organizations/${org.id}/billing`,
    events: `/projects/${production.id}/events`,
    boards: `/projects/${production.id}/boards`,
    board: boardPath,
    cohorts: `/projects/${production.id}/cohorts`,
    lexicon: `/projects/${production.id}/lexicon`,
    data_views: `/projects/${production.id}/settings/data-views`,
    alerts: `/projects/${production.id}/alerts`,
    annotations: `/projects/${production.id}/annotations`,
    privacy: `/projects/${production.id}/settings/privacy`,
  };
  for (const [name, path] of Object.entries(screens)) {
    await axePage.goto(`${base}${path}`);
    await axePage.locator("main h1").first().waitFor();
    await axePage.waitForLoadState("networkidle");
    await axePage.addScriptTag({ path: axePath });
    const violations = await axePage.evaluate(async () => {
      const result = await window.axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa"] } });
      return result.violations.map((v) => ({
        id: v.id,
        impact: v.impact,
        nodes: v.nodes.length,
        help: v.help,
        where: v.nodes.slice(0, 4).map((n) => `${n.target.join(" ")}: ${n.failureSummary}`),
      }));
    });
    facts.axe[name] = violations;
  }
  // On a phone: the navigation folds behind its button, and no screen scrolls sideways
  // (wide tables scroll inside their own box).
  const phone = await context({ storageState: state, viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  const phonePage = await open(phone);
  facts.phone = {};
  for (const [name, path] of Object.entries({ insights: screens.insights, members: screens.members, retention: screens.retention })) {
    await phonePage.goto(`${base}${path}`);
    await phonePage.locator("main h1").first().waitFor();
    await phonePage.waitForLoadState("networkidle");
    facts.phone[name] = await phonePage.evaluate(() => ({
      overflow: document.documentElement.scrollWidth - window.innerWidth,
      burger: !!document.querySelector('button[aria-label="Open the navigation"]')?.getClientRects().length,
    }));
  }
  await phonePage.screenshot({ path: `${shots}/phone-retention.png` });
  await phonePage.getByRole("button", { name: "Open the navigation" }).click();
  await phonePage.getByRole("link", { name: "Insights" }).click();
  await phonePage.locator("main h1", { hasText: "Insights" }).waitFor();
  facts.phone.navigated = new URL(phonePage.url()).pathname;

  // A signed-out visitor of the sign-in screen, for the same check.
  const anonymous = await context({ bypassCSP: true });
  const signIn = await anonymous.newPage();
  await signIn.goto(`${base}/sign-in`);
  await signIn.locator("#email").waitFor();
  await shot(signIn, "sign-in");
  await signIn.addScriptTag({ path: axePath });
  facts.axe.sign_in = await signIn.evaluate(async () =>
    (await window.axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa"] } })).violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      nodes: v.nodes.length,
      help: v.help,
      where: v.nodes.slice(0, 4).map((n) => `${n.target.join(" ")}: ${n.failureSummary}`),
    })),
  );
  console.log(JSON.stringify(facts));
} catch (error) {
  console.error(String(error && error.stack ? error.stack : error));
  console.error(JSON.stringify(facts));
  code = 1;
} finally {
  await browser.close();
}
process.exit(code);
