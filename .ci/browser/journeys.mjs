// Browser journeys against the real server, in Debian's Chromium driven by playwright-core
// (no browser is downloaded). Each journey starts where a person starts: the link in the
// email the server wrote (an .eml file of the `file` mail transport), and goes on by clicking.
//
//   node .ci/browser/journeys.mjs BASE_URL DATA_DIR MAIL_DIR SCREENSHOT_DIR
//
// Run by .ci/browser.sh, which starts the server. Fails (exit 1) on the first broken step,
// on any console error (a CSP violation included) and on any page error.
import { readFileSync, readdirSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

// axe-core's browser bundle, injected into each screenshotted page (see `accessible`).
const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

const [base, dataDir, mailDir, shots] = process.argv.slice(2);
if (!base || !dataDir || !mailDir || !shots) {
  console.error("usage: journeys.mjs BASE_URL DATA_DIR MAIL_DIR SCREENSHOT_DIR");
  process.exit(2);
}
mkdirSync(shots, { recursive: true });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function check(condition, message) {
  if (!condition) throw new Error(message);
}

// ---- the API, as a program uses it --------------------------------------------------------
async function api(method, path, { token, body } = {}) {
  const headers = { accept: "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(`${base}/api/v1${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null, text };
}

async function waitForServer() {
  for (let i = 0; i < 300; i++) {
    try {
      const res = await fetch(`${base}/healthz`);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error(`the server did not answer on ${base}/healthz within 30 s`);
}

// ---- the emails the server wrote -------------------------------------------------------------
// A minimal MIME reader: the decoded text of every part (quoted-printable and base64).
function decodeParts(raw) {
  const text = raw.replace(/\r\n/g, "\n");
  const out = [];
  const boundaries = [...text.matchAll(/boundary="?([^";\n]+)"?/gi)].map((m) => m[1]);
  let parts = [text];
  for (const b of boundaries) {
    parts = parts.flatMap((p) => p.split(`--${b}`));
  }
  for (const part of parts) {
    const split = part.indexOf("\n\n");
    if (split < 0) continue;
    const head = part.slice(0, split);
    let body = part.slice(split + 2);
    const encoding = (head.match(/content-transfer-encoding:\s*([\w-]+)/i) || [])[1] || "";
    if (/quoted-printable/i.test(encoding)) {
      body = Buffer.from(
        body.replace(/=\n/g, "").replace(/=([0-9A-F]{2})/gi, (_, h) => String.fromCharCode(parseInt(h, 16))),
        "latin1",
      ).toString("utf8");
    } else if (/base64/i.test(encoding)) {
      body = Buffer.from(body.replace(/\s+/g, ""), "base64").toString("utf8");
    }
    out.push(head + "\n\n" + body);
  }
  return out.join("\n");
}

// Waits for an email to `to` holding a link to `path` (with a `?token=` unless `token` is
// false: then the link is the page itself); returns the link, as written.
async function linkFromEmail(to, path, seconds = 15, token = true) {
  const tail = token ? "\\?token=[A-Za-z0-9_-]+" : "(?![\\w/-])";
  const pattern = new RegExp(`https?://[^\\s"'<>]+${path.replace(/[-/]/g, "\\$&")}${tail}`);
  for (let i = 0; i < seconds * 10; i++) {
    let files = [];
    try {
      files = readdirSync(mailDir).filter((f) => f.endsWith(".eml"));
    } catch {
      // the directory appears with the first email
    }
    for (const f of files) {
      const raw = readFileSync(join(mailDir, f), "utf8");
      if (!raw.toLowerCase().includes(to.toLowerCase())) continue;
      const found = decodeParts(raw).match(pattern);
      if (found) return found[0];
    }
    await sleep(100);
  }
  throw new Error(`no email to ${to} with a ${path} link within ${seconds} s`);
}

// ---- the browser -----------------------------------------------------------------------------
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});

const problems = [];
async function newPage() {
  const context = await browser.newContext();
  const page = await context.newPage();
  // A refused form answers its document with 4xx on purpose; any other failed load is a fault.
  page.on("console", (m) => {
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) {
      problems.push(`console error on ${page.url()}: ${m.text()}`);
    }
  });
  page.on("response", (r) => {
    if (r.request().resourceType() !== "document" && r.status() >= 400) {
      problems.push(`${r.status()} for ${r.url()} (on ${page.url()})`);
    }
  });
  page.on("pageerror", (e) => problems.push(`page error on ${page.url()}: ${e.message}`));
  page.on("request", (r) => {
    if (!r.url().startsWith(base)) problems.push(`request outside the portal: ${r.url()}`);
  });
  return { context, page };
}

// WCAG 2.0, 2.1 and 2.2, levels A and AA (axe-core's tags; 2.2 adds AA rules only).
const WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"];

// Runs axe-core on the page; throws listing the violations (rule, help, elements) if any.
// The pages' CSP forbids inline scripts, so axe is not added as a <script>: page.evaluate goes
// through the DevTools protocol (Runtime.evaluate), which the page's CSP does not govern.
async function accessible(page, name) {
  const loaded = await page.evaluate(() => typeof window.axe !== "undefined");
  if (!loaded) await page.evaluate(axeSource);
  const violations = await page.evaluate(async (tags) => {
    const result = await window.axe.run(document, { runOnly: { type: "tag", values: tags }, resultTypes: ["violations"] });
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      targets: v.nodes.map((n) => n.target.join(" ")),
    }));
  }, WCAG_TAGS);
  if (violations.length) {
    const listed = violations
      .map((v) => `  - ${v.id} (${v.impact}): ${v.help}\n      ${v.targets.join("\n      ")}`)
      .join("\n");
    throw new Error(`axe-core: ${violations.length} WCAG A/AA violation(s) on ${name} (${page.url()}):\n${listed}`);
  }
}

let shot = 0;
// Keeps a screenshot of the page under SCREENSHOT_DIR and checks it with axe-core: every page
// a journey shows is also an accessibility check.
async function screenshot(page, name) {
  shot += 1;
  const file = join(shots, `${String(shot).padStart(2, "0")}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`  screenshot ${file}`);
  await accessible(page, name);
}

async function expectText(page, text) {
  const body = await page.locator("body").innerText();
  check(body.includes(text), `${page.url()}: expected "${text}" in:\n${body}`);
}

async function journey(name, run) {
  const started = Date.now();
  console.log(`journey: ${name}`);
  await run();
  console.log(`  ok in ${Date.now() - started} ms`);
}

await waitForServer();
// The bootstrap admin: the file holds the email on its first line and the password on its second.
const [adminEmail, adminPassword] = readFileSync(join(dataDir, "bootstrap-admin-password.txt"), "utf8")
  .split("\n")
  .map((line) => line.trim());
const stamp = Date.now();

await journey("(a) an anonymous subscriber confirms from the email", async () => {
  const email = `subscriber-${stamp}@example.org`;
  const asked = await api("POST", "/subscriptions", {
    body: { email, topics: ["releases", "uit_windows"], mode: "daily_digest" },
  });
  check(asked.status === 202, `subscribe: ${asked.status} ${asked.text}`);
  const link = await linkFromEmail(email, "/confirm-subscription");
  const { context, page } = await newPage();
  const res = await page.goto(link);
  check(res.status() === 200, `confirmation page: ${res.status()}`);
  check(res.headers()["referrer-policy"] === "no-referrer", "the token page sends no referrer");
  await expectText(page, "Confirm your subscription");
  await expectText(page, "Releases");
  await expectText(page, "UIT windows");
  await expectText(page, "one email a day");
  await screenshot(page, "confirm-subscription");
  await page.getByRole("button", { name: "Confirm subscription" }).click();
  await page.waitForLoadState();
  await expectText(page, "Confirmed");
  check(!page.url().includes("token="), `the token left the URL: ${page.url()}`);
  await screenshot(page, "subscription-confirmed");
  await context.close();
});

let member = null;
await journey("(b) an invited colleague accepts and is signed in", async () => {
  const login = await api("POST", "/auth/login", { body: { email: adminEmail, password: adminPassword } });
  check(login.status === 200, `admin login: ${login.status} ${login.text}`);
  const token = login.json.access_token;
  const me = await api("GET", "/me", { token });
  const orgId = me.json.organisation.id;
  const email = `colleague-${stamp}@example.org`;
  const invited = await api("POST", `/organisations/${orgId}/invitations`, {
    token,
    body: { email, role: "member" },
  });
  check(invited.status === 201, `invitation: ${invited.status} ${invited.text}`);
  const link = await linkFromEmail(email, "/accept-invitation");
  const { context, page } = await newPage();
  await page.goto(link);
  await expectText(page, me.json.organisation.name);
  await expectText(page, "member");
  await screenshot(page, "accept-invitation");
  await page.getByLabel("Your name").fill("Casey Colleague");
  await page.getByLabel("Password").fill("a long enough password");
  await page.getByRole("button", { name: "Accept and sign in" }).click();
  await page.waitForURL(`${base}/`);
  await expectText(page, "Signed in as Casey Colleague");
  await screenshot(page, "home-signed-in");
  member = { email, context, page };
});

await journey("(c) a locked-out user resets the password, signs in with it, signs out", async () => {
  const asked = await api("POST", "/auth/password-reset", { body: { email: member.email } });
  check(asked.status === 202, `reset request: ${asked.status}`);
  const link = await linkFromEmail(member.email, "/reset-password");
  const { context, page } = await newPage();
  await page.goto(link);
  await expectText(page, "Choose a new password");
  await page.getByLabel("New password").fill("too short");
  await page.getByRole("button", { name: "Set the new password" }).click();
  await page.waitForLoadState();
  await expectText(page, "The password must be at least 12 characters.");
  await screenshot(page, "reset-password-refused");
  await page.getByLabel("New password").fill("a fresh and long passphrase");
  await page.getByRole("button", { name: "Set the new password" }).click();
  await page.waitForLoadState();
  await expectText(page, "Password changed");
  await screenshot(page, "password-changed");

  // The reset ended the session the invitation started.
  await member.page.reload();
  await expectText(member.page, "Sign in");
  check(!(await member.page.locator("body").innerText()).includes("Signed in as"), "the old session survived the reset");
  await member.context.close();

  await page.getByRole("link", { name: "Sign in" }).first().click();
  await page.waitForURL(`${base}/sign-in`);
  await page.getByLabel("Email address").fill(member.email);
  await page.getByLabel("Password").fill("a fresh and long passphrase");
  await screenshot(page, "sign-in");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(`${base}/`);
  await expectText(page, "Signed in as Casey Colleague");
  await page.locator("main").getByRole("button", { name: "Sign out" }).click();
  await page.waitForURL(`${base}/`);
  await expectText(page, "Welcome");
  check(!(await page.locator("body").innerText()).includes("Signed in as"), "still signed in after signing out");
  await screenshot(page, "signed-out");
  await context.close();
});

// ---- rest journeys ----
await journey("(d) subscribe on the page, confirm, hear of a window change, unsubscribe from the email", async () => {
  const email = `follower-${stamp}@example.org`;
  const { context, page } = await newPage();
  await page.goto(`${base}/`);
  await page.getByRole("link", { name: "Subscribe by email" }).click();
  await page.waitForURL(`${base}/subscribe`);
  await page.getByLabel("Email address").fill(email);
  await page.getByLabel("UIT windows").check();
  await page.getByLabel("One email for each change, as it happens").check();
  await screenshot(page, "subscribe");
  await page.getByRole("button", { name: "Subscribe" }).click();
  await page.waitForLoadState();
  await expectText(page, "Check your inbox");
  await screenshot(page, "subscribe-check-inbox");

  await page.goto(await linkFromEmail(email, "/confirm-subscription"));
  await expectText(page, "UIT windows");
  await expectText(page, "one email for each change");
  await page.getByRole("button", { name: "Confirm subscription" }).click();
  await page.waitForLoadState();
  await expectText(page, "Confirmed");
  await screenshot(page, "subscribe-confirmed");

  // A window change: the operator extends the demo window by a day.
  const login = await api("POST", "/auth/login", { body: { email: adminEmail, password: adminPassword } });
  check(login.status === 200, `admin login: ${login.status} ${login.text}`);
  const token = login.json.access_token;
  const windows = await api("GET", "/uit-windows?status=open&limit=500", { token });
  const demo = windows.json.items.find((w) => w.name === "UIT-2026-11") || windows.json.items[0];
  check(demo, `no open window to change: ${windows.text}`);
  const closes = new Date(Date.parse(demo.closes_at) + 24 * 3600 * 1000).toISOString();
  const moved = await api("PATCH", `/uit-windows/${demo.id}`, { token, body: { closes_at: closes } });
  check(moved.status === 200, `extending ${demo.name}: ${moved.status} ${moved.text}`);

  // The notification arrives (immediate mode) carrying its unsubscribe link.
  const unsubscribe = await linkFromEmail(email, "/api/v1/unsubscribe", 60);
  const res = await page.goto(unsubscribe);
  check(res.status() === 200, `unsubscribe page: ${res.status()}`);
  await screenshot(page, "unsubscribe");
  await page.getByRole("button", { name: "Unsubscribe" }).click();
  await page.waitForLoadState();
  await expectText(page, "no more");
  await screenshot(page, "unsubscribed");
  await context.close();
});

await journey("(e) a forgotten password from the sign-in page; a supplier's home page", async () => {
  const viewer = "viewer@northern-lights.demo";
  const { context, page } = await newPage();
  await page.goto(`${base}/sign-in`);
  await page.getByRole("link", { name: "Ask for a link to choose a new one" }).click();
  await page.waitForURL(`${base}/forgot-password`);
  await page.getByLabel("Email address").fill(viewer);
  await screenshot(page, "forgot-password");
  await page.getByRole("button", { name: "Email me a link" }).click();
  await page.waitForLoadState();
  await expectText(page, "If an account exists for that address, an email with a link is on its way");
  await screenshot(page, "forgot-password-sent");
  await linkFromEmail(viewer, "/reset-password");

  await page.goto(`${base}/sign-in`);
  await page.getByLabel("Email address").fill("admin@northern-lights.demo");
  await page.getByLabel("Password").fill("uit-demo-password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(`${base}/`);
  await expectText(page, "Claims of Northern Lights Energy");
  await expectText(page, "Recent changes");
  const claimed = page.locator("section", { hasText: "Claims of Northern Lights Energy" });
  check((await claimed.locator("tbody tr").count()) > 0, "the supplier's claims are listed");
  const href = await claimed.locator("tbody a").first().getAttribute("href");
  check(/^\/windows\/[0-9a-f-]+$/.test(href || ""), `a claim links to its window page: ${href}`);
  await screenshot(page, "home-supplier");
  await context.close();
});

// ---- library journeys ----
await journey("(f) a member reads the library pages from the navigation and manages a subscription", async () => {
  // The demo industry has no masks, roadmap or contacts yet: Meterwise publishes some, as a program would.
  const login = await api("POST", "/auth/login", { body: { email: "admin@meterwise.demo", password: "uit-demo-password" } });
  check(login.status === 200, `login: ${login.status} ${login.text}`);
  const token = login.json.access_token;
  const me = await api("GET", "/me", { token });
  const orgId = me.json.org_id || (me.json.organisation && me.json.organisation.id);
  const models = await api("GET", `/device-models?manufacturer_org_id=${orgId}`, { token });
  check(models.status === 200 && models.json.items.length > 0, `models: ${models.status} ${models.text}`);
  const model = models.json.items[0].id;
  const fw = await api("GET", `/device-models/${model}/firmware`, { token });
  const fwId = fw.json.items[0].id;
  const code = `DM-${String(stamp).slice(-4)}`;
  const mask = await api("POST", "/defect-masks", {
    token,
    body: {
      code, title: "Tariff switch lost after a comms hub swap", severity: "major", device_model_id: model,
      affected_firmware_ids: [fwId], symptom: "The ESME keeps the old tariff", workaround: "Re-send the tariff",
    },
  });
  check(mask.status === 201, `mask: ${mask.status} ${mask.text}`);
  const day = (n) => new Date(Date.now() + n * 86400000).toISOString().slice(0, 10);
  for (const [summary, visibility, status, date] of [
    ["Fixes the tariff switch defect", "industry", "committed", day(45)],
    ["Adds the new load-limiting command", "industry", "proposed", day(120)],
  ]) {
    const item = await api("POST", "/roadmap-items", {
      token,
      body: { device_model_id: model, planned_version: `1.${summary.length}`, planned_date: date, category: "defect_fix", summary, status, visibility },
    });
    check(item.status === 201, `roadmap: ${item.status} ${item.text}`);
  }
  for (const [name, verified] of [["Meterwise firmware desk", day(-20)], ["Meterwise old support line", day(-500)]]) {
    const c = await api("POST", "/library-contacts", {
      token,
      body: { manufacturer_org_id: orgId, contact_name: name, email: "firmware@meterwise.demo", notes: "", verified_on: verified },
    });
    check(c.status === 201, `contact: ${c.status} ${c.text}`);
  }

  const { context, page } = await newPage();
  await page.goto(`${base}/sign-in`);
  await page.getByLabel("Email address").fill("member@northern-lights.demo");
  await page.getByLabel("Password").fill("uit-demo-password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(`${base}/`);
  const nav = page.getByRole("navigation", { name: "Portal" });

  await nav.getByRole("link", { name: "Defect masks" }).click();
  await page.waitForURL(`${base}/defect-masks`);
  await expectText(page, code);
  await screenshot(page, "defect-masks");
  await page.getByRole("link", { name: code }).click();
  await page.waitForURL(/\/defect-masks\/[0-9a-f-]+$/);
  await expectText(page, "Re-send the tariff");
  await screenshot(page, "defect-mask");
  await page.getByRole("link", { name: /^version / }).first().click();
  await page.waitForURL(/\/firmware\/[0-9a-f-]+$/);
  await expectText(page, "Meterwise");
  await expectText(page, code);
  await screenshot(page, "firmware");
  const releases = await api("GET", "/releases", { token });
  check(releases.status === 200 && releases.json.items.length > 0, `releases: ${releases.status}`);
  await page.goto(`${base}/releases/${releases.json.items[0].id}`);
  await expectText(page, "Stage in effect");
  await expectText(page, "Stage history");
  await screenshot(page, "release");

  await nav.getByRole("link", { name: "Roadmap" }).click();
  await page.waitForURL(`${base}/roadmap`);
  await expectText(page, "Fixes the tariff switch defect");
  await screenshot(page, "roadmap");

  await nav.getByRole("link", { name: "Contacts" }).click();
  await page.waitForURL(`${base}/library-contacts`);
  await expectText(page, "stale: last confirmed");
  await screenshot(page, "library-contacts");

  await nav.getByRole("link", { name: "Calendar" }).click();
  await page.waitForURL(`${base}/calendar`);
  await expectText(page, "UIT-2026-11");
  await page.getByRole("button", { name: "Create my calendar feed link" }).click();
  await page.waitForLoadState();
  await expectText(page, "shown only this once");
  const feedUrl = await page.getByLabel(/Feed link/).inputValue();
  const feed = await fetch(feedUrl);
  check(feed.status === 200 && (await feed.text()).startsWith("BEGIN:VCALENDAR"), `feed: ${feed.status}`);
  await screenshot(page, "calendar");

  await nav.getByRole("link", { name: "Subscriptions" }).click();
  await page.waitForURL(`${base}/subscriptions`);
  await expectText(page, "You have no subscriptions.");
  const add = page.locator("form[action='/subscriptions']");
  await add.getByRole("button", { name: "Subscribe" }).click();
  await page.waitForLoadState();
  await expectText(page, "Topics: must name at least one topic.");
  await screenshot(page, "subscription-refused");
  await add.getByLabel("Defect masks").check();
  await add.getByLabel("Roadmaps").check();
  await add.getByLabel("ESME").check();
  await add.getByRole("button", { name: "Subscribe" }).click();
  await page.waitForURL(`${base}/subscriptions`);
  await expectText(page, "My subscriptions (1)");
  await expectText(page, "an email for each change");
  await page.getByText("Change", { exact: true }).click();
  const change = page.locator("form.subscription").first();
  await change.getByLabel("one email a day (daily digest)").check();
  await screenshot(page, "subscription-change");
  await change.getByRole("button", { name: "Save changes" }).click();
  await page.waitForURL(`${base}/subscriptions`);
  await expectText(page, "a daily digest");
  await screenshot(page, "subscriptions");
  await page.getByRole("button", { name: "Unsubscribe" }).click();
  await page.waitForURL(`${base}/subscriptions`);
  await expectText(page, "You have no subscriptions.");
  await context.close();
});

// ---- windows journeys ----
const PRIVATE_NOTE = "Re-run after the lab's HAN interference is fixed."; // src/seed/activity.rs

async function signInAs(email) {
  const { context, page } = await newPage();
  await page.goto(`${base}/sign-in`);
  await page.getByLabel("Email address").fill(email);
  await page.getByLabel("Password").fill("uit-demo-password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(`${base}/`);
  return { context, page };
}

async function openDemoWindow(page) {
  await page.getByRole("navigation", { name: "Portal" }).getByRole("link", { name: "Windows" }).click();
  await page.waitForURL(`${base}/windows`);
  await page.getByRole("link", { name: "UIT-2026-11" }).click();
  await page.waitForURL(/\/windows\/[^/?]+$/);
  await expectText(page, "Coverage, weighted by prevalence");
  await expectText(page, "Compatibility matrix");
  return new URL(page.url()).pathname;
}

await journey("(g) the SECAS reviewer reads the window's heatmap, a cell and the CSV, then signs out", async () => {
  const { context, page } = await signInAs("admin@secas.demo");
  await page.getByRole("navigation", { name: "Portal" }).getByRole("link", { name: "Windows" }).click();
  await page.waitForURL(`${base}/windows`);
  await expectText(page, "UIT-2026-11");
  await screenshot(page, "windows-list");
  const windowPath = await openDemoWindow(page);
  check((await page.locator("table.heatmap tbody tr").count()) > 0, "the heatmap has rows");
  check((await page.locator("td.cell.o-pass").count()) > 0, "the heatmap shows passes");
  const html = await page.content();
  const text = await page.locator("body").innerText();
  check(!text.includes(PRIVATE_NOTE) && !html.includes("HAN interference"), "the private note reached the reviewer");
  check((await page.getByRole("button", { name: /Lead this set/ }).count()) === 0, "a reviewer got a claim button");
  await screenshot(page, "window-reviewer");
  await page.emulateMedia({ media: "print" });
  await expectText(page, "Printed from UIT Portal on");
  check(!(await page.locator("header.top").isVisible()), "the print shows the navigation");
  await screenshot(page, "window-print");
  await page.emulateMedia({ media: "screen" });

  // A failing cell (a known issue or a failure), with its results.
  await page.locator("td.cell.o-known a, td.cell.o-fail a").first().click();
  await page.waitForURL(/\/cell\?/);
  await expectText(page, "you may see");
  check(!(await page.content()).includes("HAN interference"), "the private note reached the reviewer's cell page");
  await screenshot(page, "window-cell");
  await page.getByRole("link", { name: /^Back to UIT-2026-11/ }).click();
  await page.waitForURL(`${base}${windowPath}`);

  const [download] = await Promise.all([
    page.waitForEvent("download"),
    page.getByRole("link", { name: "Download the whole matrix as CSV" }).click(),
  ]);
  const file = await download.path();
  const csv = readFileSync(file, "utf8");
  check(csv.startsWith("device_set_id,device_set_name,prevalence,lead_org,scenario,worst"), `CSV header: ${csv.slice(0, 120)}`);
  check(csv.trim().split("\n").length > 1, "the CSV has rows");
  check(!csv.includes("HAN interference"), "the private note reached the reviewer's CSV");

  await page.getByRole("button", { name: "Sign out" }).click();
  await page.waitForURL(`${base}/`);
  await expectText(page, "Welcome");
  await context.close();
});

await journey("(h) a supplier leads a set from the page; a viewer has no button and a forged POST is 403", async () => {
  const { context, page } = await signInAs("member@northern-lights.demo");
  const windowPath = await openDemoWindow(page);
  const button = page.getByRole("button", { name: /Lead this set/ }).first();
  const row = page.locator("table.heatmap tbody tr").filter({ has: button });
  const setName = (await row.locator("th").first().innerText()).split("\n")[0].trim();
  await button.click();
  await page.waitForURL(`${base}${windowPath}`);
  const led = page.locator("table.heatmap tbody tr").filter({ has: page.locator("th", { hasText: setName }) });
  const leadCell = await led.locator("td.lead").innerText();
  check(leadCell.includes("Led by Northern Lights Energy"), `after claiming ${setName}: ${leadCell}`);
  check((await led.getByRole("button", { name: /Release/ }).count()) === 1, "our claim has a Release button");
  await screenshot(page, "window-claimed");
  await context.close();

  const viewer = await signInAs("viewer@northern-lights.demo");
  await openDemoWindow(viewer.page);
  check((await viewer.page.getByRole("button", { name: /Lead this set/ }).count()) === 0, "a viewer got a claim button");
  check((await viewer.page.getByRole("button", { name: /Release/ }).count()) === 0, "a viewer got a release button");
  await screenshot(viewer.page, "window-viewer");
  // The set's id from a cell link of an unclaimed row.
  const free = viewer.page.locator("table.heatmap tbody tr").filter({ hasText: "no lead" }).first();
  const href = await free.locator("td.cell a").first().getAttribute("href");
  const setId = new URL(href, base).searchParams.get("device_set");
  const windowId = windowPath.split("/").pop();
  const forged = await viewer.page.request.post(`${base}/windows/${windowId}/claim`, {
    form: { device_set_id: setId },
    maxRedirects: 0,
  });
  check(forged.status() === 403, `a forged POST answered ${forged.status()}`);
  // With the page's own token the domain still refuses a viewer.
  const csrf = await viewer.page.locator('input[name="csrf"]').first().getAttribute("value");
  const refused = await viewer.page.request.post(`${base}/windows/${windowId}/claim`, {
    form: { csrf, device_set_id: setId },
    maxRedirects: 0,
  });
  check(refused.status() === 403, `a viewer's POST with a valid token answered ${refused.status()}`);
  const login = await api("POST", "/auth/login", { body: { email: "admin@secas.demo", password: "uit-demo-password" } });
  check(login.status === 200, `reviewer login: ${login.status}`);
  const claims = await api("GET", `/uit-windows/${windowId}/claims?device_set_id=${setId}`, { token: login.json.access_token });
  check(claims.status === 200 && claims.json.items.length === 0, `the forged POST claimed the set: ${claims.text}`);
  await viewer.context.close();
});

await journey("(i) the operator freezes a review pack; the SECAS reviewer checks its hash and records concerns", async () => {
  const login = await api("POST", "/auth/login", { body: { email: adminEmail, password: adminPassword } });
  check(login.status === 200, `operator login: ${login.status}`);
  const token = login.json.access_token;
  const windows = await api("GET", "/uit-windows?limit=500", { token });
  const demo = windows.json.items.find((w) => w.name === "UIT-2026-11");
  check(demo, "the demo window exists");
  const patched = await api("PATCH", `/uit-windows/${demo.id}`, {
    token,
    body: { exit_criteria: { min_publishing_suppliers: 2, max_unexplained_failures: 0 } },
  });
  check(patched.status === 200, `setting exit criteria: ${patched.status} ${patched.text}`);

  const { context, page } = await newPage();
  await page.goto(`${base}/sign-in`);
  await page.getByLabel("Email address").fill(adminEmail);
  await page.getByLabel("Password").fill(adminPassword);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(`${base}/`);
  await openDemoWindow(page);
  await page.getByRole("link", { name: /Readiness against the exit criteria/ }).click();
  await page.waitForURL(/\/windows\/[^/]+\/readiness$/);
  await expectText(page, "At least 2 suppliers published shared results");
  await screenshot(page, "readiness-operator");
  await page.getByLabel(/Title/).fill("UIT-2026-11 exit review");
  await page.getByRole("button", { name: "Freeze a review pack now" }).click();
  await page.waitForURL(/\/review-packs\/[^/]+$/);
  await expectText(page, "This is the window's first pack.");
  const packPath = new URL(page.url()).pathname;
  await context.close();

  const reviewer = await signInAs("admin@secas.demo");
  await openDemoWindow(reviewer.page);
  await reviewer.page.getByRole("link", { name: /Readiness against the exit criteria/ }).click();
  await reviewer.page.getByRole("link", { name: "UIT-2026-11 exit review" }).click();
  await reviewer.page.waitForURL(`${base}${packPath}`);
  const shown = (await reviewer.page.locator("code.hash").innerText()).trim();
  const [download] = await Promise.all([
    reviewer.page.waitForEvent("download"),
    reviewer.page.getByRole("link", { name: /the pack \(JSON/ }).click(),
  ]);
  const bytes = readFileSync(await download.path());
  const digest = createHash("sha256").update(bytes).digest("hex");
  check(digest === shown, `the pack's SHA-256 ${digest} differs from the page's ${shown}`);
  check(!bytes.toString("utf8").includes("HAN interference"), "a private note reached the pack");
  await reviewer.page.getByLabel("Concerns", { exact: true }).check();
  await reviewer.page.getByLabel(/Comment/).fill("Prepayment top-up is untested on the most prevalent GSME sets.");
  await reviewer.page.getByRole("button", { name: "Record the verdict" }).click();
  await reviewer.page.waitForURL(`${base}${packPath}#verdicts`);
  await expectText(reviewer.page, "Prepayment top-up is untested");
  await screenshot(reviewer.page, "review-pack-reviewer");
  await reviewer.context.close();
});

await journey("(j) a participant opens a UIT issue from its email, comments on its result; the resolver triages it", async () => {
  const password = "uit-demo-password";
  const tv = await api("POST", "/auth/login", { body: { email: "admin@thames-valley.demo", password } });
  const nl = await api("POST", "/auth/login", { body: { email: "member@northern-lights.demo", password } });
  check(tv.status === 200 && nl.status === 200, `demo logins: ${tv.status} ${nl.status}`);
  const windows = await api("GET", "/uit-windows?limit=500", { token: nl.json.access_token });
  const demo = windows.json.items.find((w) => w.name === "UIT-2026-11");
  const sub = await api("POST", "/subscriptions", {
    token: nl.json.access_token,
    body: { topics: ["uit_issues"], filters: { uit_window_ids: [demo.id] } },
  });
  check(sub.status === 201, `subscribing: ${sub.status} ${sub.text}`);
  const orgs = await api("GET", "/organisations?limit=500", { token: tv.json.access_token });
  const maker = orgs.json.items.find((o) => o.slug === "meterwise");
  const shared = await api("GET", `/results?uit_window_id=${demo.id}&visibility=participants&limit=1`, {
    token: tv.json.access_token,
  });
  check(shared.status === 200 && shared.json.items.length === 1, `a shared result: ${shared.text}`);
  const result = shared.json.items[0];
  const title = `Top-up lost after a hub swap (${stamp})`;
  const raised = await api("POST", "/uit-issues", {
    token: tv.json.access_token,
    body: {
      uit_window_id: demo.id,
      title,
      description: "The PPMID shows the credit; the meter never applies it.",
      severity: "blocking",
      device_set_ids: [result.device_set_id],
      result_ids: [result.id],
      resolving_org_id: maker.id,
    },
  });
  check(raised.status === 201, `raising: ${raised.status} ${raised.text}`);
  const issuePath = `/uit-issues/${raised.json.id}`;

  // The email's link asks a signed-out browser to sign in first, then shows the issue.
  const { context, page } = await newPage();
  await page.goto(await linkFromEmail("member@northern-lights.demo", issuePath, 60, false));
  await page.waitForURL(/\/sign-in\?next=/);
  await page.getByLabel("Email address").fill("member@northern-lights.demo");
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(`${base}${issuePath}`);
  await expectText(page, title);
  await expectText(page, "Raised, for Meterwise to resolve");
  check((await page.getByRole("button", { name: "Mark as triaged" }).count()) === 0, "a bystander can triage");
  await screenshot(page, "uit-issue-participant");
  await page.locator("main a[href*='/cell?']").first().click();
  await page.waitForURL(/\/cell\?/);
  const note = `Seen on our rig too (${stamp}).`;
  await page.getByLabel(/^Your comment on/).first().fill(note);
  await page.getByRole("button", { name: "Post the comment" }).first().click();
  await page.waitForURL(/\/cell\?.*#r-/);
  await expectText(page, note);
  await screenshot(page, "cell-comment");
  await context.close();

  const resolver = await signInAs("admin@meterwise.demo");
  await resolver.page.goto(`${base}${issuePath}`);
  await resolver.page.getByLabel(/^Comment/).first().fill("Reproduced in our lab.");
  await resolver.page.getByRole("button", { name: "Mark as triaged" }).click();
  await resolver.page.waitForURL(`${base}${issuePath}`);
  await expectText(resolver.page, "open to triaged");
  await expectText(resolver.page, "Reproduced in our lab.");
  await screenshot(resolver.page, "uit-issue-resolver");
  await resolver.context.close();
});

await browser.close();
if (problems.length) {
  console.error("problems seen in the browser:\n" + problems.join("\n"));
  process.exit(1);
}
console.log("all journeys passed");
