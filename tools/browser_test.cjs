#!/usr/bin/env node
// The page in a real browser: Debian's chromium, headless, driven by playwright-core, on
// `serve --demo`.
//
//     node tools/browser_test.cjs [path/to/portage-ledger]
//
// (with playwright-core on NODE_PATH; `.ci/run` installs the pinned version under /tmp).
// Signs in as each role with the demo's links and checks that the figures the page shows equal
// the API's answers for that token (amounts compared with any of the spaces fr-FR writes taken
// as one), that the funder's pages name no other funder and show no cost, that the employer's
// filters and sort do what they say, that the month-end buttons do what the API does, that an
// expired token returns to sign-in with a message, and that no page logs a console error.
// Saves a screenshot of each main page under target/.
"use strict";

const { chromium } = require("playwright-core");
const { spawn, execFileSync } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const net = require("node:net");

const BINARY = process.argv[2] || "target/debug/portage-ledger";
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const SECRET = "browser-test-secret-of-forty-characters!";
const failures = [];

function check(ok, message) {
  if (!ok) failures.push(message);
}

/** Spaces as Intl writes them (U+00A0, U+202F) taken as one. */
function normal(text) {
  return text.replace(/[\u00a0\u202f ]+/g, " ").trim();
}

/** The API's "1234.56" as fr-FR writes it, spaces normalised: "1 234,56 €". */
function euros(amount) {
  const negative = amount.startsWith("-");
  const [whole, fraction = ""] = (negative ? amount.slice(1) : amount).split(".");
  const grouped = String(Number(whole)).replace(/\B(?=(\d{3})+(?!\d))/g, " ");
  return `${negative ? "-" : ""}${grouped},${(fraction + "00").slice(0, 2)} €`;
}

function cents(amount) {
  const [whole, fraction = ""] = amount.replace("-", "").split(".");
  const value = Number(whole) * 100 + Number((fraction + "00").slice(0, 2));
  return amount.startsWith("-") ? -value : value;
}

function eurosOfCents(value) {
  const sign = value < 0 ? "-" : "";
  const abs = Math.abs(value);
  return euros(`${sign}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, "0")}`);
}

async function freePort() {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function start() {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "portage-browser-"));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const env = {
    ...process.env, PORTAGE_DATABASE_URL: `sqlite://${work}/demo.db`, PORTAGE_BIND: `127.0.0.1:${port}`,
    PORTAGE_LOG: "warn", PORTAGE_JWT_SECRET: SECRET,
  };
  const server = spawn(BINARY, ["serve", "--demo"], { env, stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no demo tokens after 60 s:\n${out}`)), 60000);
    server.stdout.on("data", (chunk) => {
      out += chunk;
      if ((out.match(/# page for the /g) || []).length === 4) {
        clearTimeout(timer);
        resolve();
      }
    });
    server.on("exit", (code) => reject(new Error(`serve --demo exited with ${code}:\n${out}`)));
  });
  const value = (name) => out.match(new RegExp(`export ${name}=(\\S+)`))[1];
  const links = Object.fromEntries([...out.matchAll(/# page for the (\w+): (\S+)/g)].map((m) => [m[1], m[2]]));
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(`${base}/healthz`)).ok) break;
    } catch (_) { /* not yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    server, base, env, links,
    employerId: value("PORTAGE_EMPLOYER_ID"), funderId: value("PORTAGE_FUNDER_ID"), postId: value("PORTAGE_POST_ID"),
    tokens: Object.fromEntries(["ADMIN", "MISSION", "EMPLOYER", "FUNDER"].map((r) => [r.toLowerCase(), value(`PORTAGE_TOKEN_${r}`)])),
  };
}

function client(base, token) {
  const headers = { Authorization: `Bearer ${token}` };
  return {
    async get(p) {
      const response = await fetch(base + p, { headers });
      if (!response.ok) throw new Error(`GET ${p}: ${response.status} ${await response.text()}`);
      return response.json();
    },
    async all(p) {
      const items = [];
      let cursor = null;
      do {
        const sep = p.includes("?") ? "&" : "?";
        const page = await this.get(`${p}${sep}limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
        items.push(...page.items);
        cursor = page.next_cursor;
      } while (cursor);
      return items;
    },
    async post(p, body) {
      const response = await fetch(base + p, {
        method: "POST", headers: { ...headers, "Content-Type": "application/json" }, body: JSON.stringify(body),
      });
      if (!response.ok) throw new Error(`POST ${p}: ${response.status} ${await response.text()}`);
      return response.json();
    },
  };
}

/** A page that records its console errors, except the network messages of answers provoked. */
async function open(browser, url, width = 1280) {
  const page = await browser.newPage({ viewport: { width, height: 900 }, locale: "fr-FR", timezoneId: "Europe/Paris" });
  page.errors = [];
  page.allowed = [];
  page.on("console", (message) => {
    if (message.type() !== "error") return;
    const text = message.text();
    if (page.allowed.some((pattern) => pattern.test(text))) return;
    page.errors.push(text);
  });
  page.on("pageerror", (error) => page.errors.push(`uncaught: ${error.message}`));
  page.on("response", (response) => {
    if (response.status() >= 400 && !page.allowed.some((p) => p.test(`status of ${response.status()}`))) {
      page.errors.push(`${response.status()} for ${response.url().split("#")[0]}`);
    }
  });
  await page.goto(url);
  await ready(page);
  return page;
}

async function ready(page) {
  await page.waitForSelector('#view[data-ready="true"], #sign-in:not([hidden])', { timeout: 30000 });
}

async function navigate(page, hash) {
  await page.evaluate((h) => {
    document.getElementById("view").dataset.ready = "false";
    location.hash = h;
  }, hash);
  await ready(page);
}

async function text(page, selector) {
  return normal(await page.locator(selector).first().innerText());
}

/** The rows of a table the page built, as arrays of normalised cell texts. */
async function rows(page, testid) {
  return page.$$eval(`table[data-testid="${testid}"] tbody tr`, (trs) =>
    trs.map((tr) => [...tr.querySelectorAll("td")].map((td) => td.innerText.replace(/[\u00a0\u202f ]+/g, " ").trim())));
}

async function chartsDrawn(page) {
  return page.$$eval("canvas", (canvases) =>
    // eslint-disable-next-line no-undef
    canvases.map((c) => Boolean(Chart.getChart(c)) && c.width > 0 && c.height > 0));
}

async function funderChecks(browser, app) {
  const api = client(app.base, app.tokens.funder);
  const admin = client(app.base, app.tokens.admin);
  const page = await open(browser, app.links.funder);
  const statement = await api.get(`/v1/funders/${app.funderId}/statement`);
  for (const field of ["allocated", "called", "paid", "outstanding", "credit"]) {
    const shown = await text(page, `[data-testid="${field}"]`);
    check(shown === euros(statement.totals[field]), `funder ${field}: page ${shown}, API ${euros(statement.totals[field])}`);
  }
  const employers = [...new Set(statement.by_post.map((r) => r.employer_id))];
  const byEmployer = await rows(page, "by-employer");
  check(byEmployer.length === employers.length, `funder: ${byEmployer.length} employer rows, API ${employers.length}`);
  for (const id of employers) {
    const own = await api.get(`/v1/funders/${app.funderId}/statement?employer_id=${id}`);
    check(byEmployer.some((r) => r[1] === euros(own.totals.allocated) && r[2] === euros(own.totals.called)
      && r[3] === euros(own.totals.paid) && r[4] === euros(own.totals.outstanding) && r[5] === euros(own.totals.credit)),
      `funder: no employer row with ${euros(own.totals.allocated)} allocated`);
  }
  const calls = await api.all("/v1/calls");
  const body = normal(await page.innerText("body"));
  for (const call of calls) {
    check(body.includes(call.number), `funder page lacks its call ${call.number}`);
    check(await page.locator(`button[aria-label="Appel ${call.number} (PDF)"]`).count() === 1, `no PDF button for ${call.number}`);
  }
  const funders = await admin.all("/v1/funders");
  const ownName = funders.find((f) => f.id === app.funderId).name;
  const noOtherFunder = (where, content) => {
    for (const other of funders) {
      if (other.id !== app.funderId && content.includes(other.name) && !ownName.includes(other.name)) {
        failures.push(`the funder's ${where} names another funder: ${other.name}`);
      }
    }
  };
  noOtherFunder("page", body);
  await page.screenshot({ path: "target/app-funder.png", fullPage: true });

  // Its post page: its own allocations and projected lines, no cost, no other funder.
  await page.click(`a[href="#/poste/${app.postId}"]`);
  await page.waitForSelector('[data-testid="own-allocations"]');
  await ready(page);
  const allocations = await api.all(`/v1/posts/${app.postId}/allocations`);
  const shown = await rows(page, "own-allocations");
  check(shown.length === allocations.length, `funder post: ${shown.length} months, API ${allocations.length}`);
  allocations.forEach((m, i) => {
    const own = m.lines.filter((l) => l.funder_id === app.funderId).reduce((s, l) => s + cents(l.amount), 0);
    check(shown[i] && shown[i][1] === eurosOfCents(own), `funder post ${m.month}: page ${shown[i] && shown[i][1]}, API ${eurosOfCents(own)}`);
  });
  const continuity = await api.get(`/v1/posts/${app.postId}/continuity`);
  const projected = await rows(page, "own-projection");
  continuity.months.forEach((m, i) => {
    const own = m.lines.filter((l) => l.funder_id === app.funderId).reduce((s, l) => s + cents(l.amount), 0);
    check(projected[i] && projected[i][1] === eurosOfCents(own), `funder projection ${m.month} differs`);
  });
  const postBody = normal(await page.innerText("body"));
  noOtherFunder("post page", postBody);
  check(!/Coût|Non couvert|Budget/.test(postBody), "the funder's post page shows a cost, budget or uncovered part");
  check((await chartsDrawn(page)).every(Boolean) && (await chartsDrawn(page)).length === 1, "the funder's chart is not drawn");
  await page.screenshot({ path: "target/app-funder-post.png", fullPage: true });
  check(page.errors.length === 0, `funder console: ${page.errors.join(" | ")}`);
  await page.close();
}

async function employerChecks(browser, app) {
  const api = client(app.base, app.tokens.employer);
  const page = await open(browser, app.links.employer);
  const posts = await api.all("/v1/posts");
  let shown = await rows(page, "posts");
  check(shown.length === posts.length, `employer: ${shown.length} posts shown, API ${posts.length}`);
  for (const post of posts) {
    check(shown.some((r) => r[1] === post.title && r[7] === euros(post.monthly_budget)),
      `employer page lacks ${post.title} at ${euros(post.monthly_budget)}`);
  }
  await page.screenshot({ path: "target/app-employer.png", fullPage: true });

  // Filters and sort.
  const territory = posts[0].territory;
  await page.selectOption('[data-testid="filter-territory"]', territory);
  shown = await rows(page, "posts");
  check(shown.length === posts.filter((p) => p.territory === territory).length && shown.every((r) => r[2] === territory),
    `the territory filter shows ${shown.length} rows for ${territory}`);
  await page.selectOption('[data-testid="filter-territory"]', "");
  await page.selectOption('[data-testid="sort"]', "runway");
  shown = await rows(page, "posts");
  const runways = shown.map((r) => Number(r[6])).filter((n) => !Number.isNaN(n));
  check(runways.every((n, i) => i === 0 || runways[i - 1] <= n), `sorting by runway gives ${runways.join(",")}`);
  const risks = await api.all("/v1/reports/at-risk?within=120");
  const red = risks.filter((r) => r.risk === "red").length;
  if (red > 0) {
    await page.selectOption('[data-testid="filter-risk"]', "red");
    check((await rows(page, "posts")).length === red, "the risk filter disagrees with the at-risk report");
    await page.selectOption('[data-testid="filter-risk"]', "");
  }

  // The post page: each month's cost and split as the API has them, charts drawn.
  await page.click(`a[href="#/poste/${app.postId}"]`);
  await page.waitForSelector('[data-testid="allocations"]');
  await ready(page);
  const allocations = await api.all(`/v1/posts/${app.postId}/allocations`);
  const months = await rows(page, "allocations");
  check(months.length === allocations.length, `post page: ${months.length} months, API ${allocations.length}`);
  allocations.forEach((m, i) => {
    const row = months[i] || [];
    check(row[1] === euros(m.cost) && row[row.length - 1] === euros(m.uncovered),
      `post page ${m.month}: ${row.join(" / ")} vs cost ${m.cost}, uncovered ${m.uncovered}`);
  });
  const continuity = await api.get(`/v1/posts/${app.postId}/continuity`);
  check(await text(page, '[data-testid="runway"]') === String(continuity.runway_months), "post page runway differs");
  const drawn = await chartsDrawn(page);
  check(drawn.length === 3 && drawn.every(Boolean), `post page charts drawn: ${drawn}`);
  await page.screenshot({ path: "target/app-employer-post.png", fullPage: true });

  // Month-end: a cost for a new month, the run button, then a call button.
  const target = "2026-11";
  await api.post(`/v1/posts/${app.postId}/costs`, { month: target, category: "salary", amount: "3127.45" });
  await navigate(page, `#/fin-de-mois/${target}`);
  check((await text(page, '[data-testid="posts-with-costs"]')).startsWith("1 poste(s)"), "month-end does not see the one post with costs");
  await page.click('[data-testid="run-allocation"]');
  await page.waitForSelector('[data-testid="run-results"]', { timeout: 30000 });
  const [split] = await api.all(`/v1/posts/${app.postId}/allocations?from=${target}&to=${target}`);
  check(Boolean(split), "the run button allocated nothing in the API");
  const results = await rows(page, "run-results");
  const mine = results.find((r) => r[0] === posts.find((p) => p.id === app.postId).title);
  check(mine && mine[1] === euros(split.cost) && mine[3] === euros(split.uncovered),
    `run result ${mine && mine.join(" / ")} vs API cost ${split.cost}, uncovered ${split.uncovered}`);
  await page.waitForSelector('[data-testid="calls-to-issue"]');
  const funder = split.lines.find((l) => cents(l.amount) > 0).funder_id;
  const before = (await api.all("/v1/calls")).length;
  await page.click(`[data-testid="issue-call-${funder}"]`);
  await page.waitForSelector(`[data-testid="issued-${funder}"]`, { timeout: 30000 });
  const issued = await text(page, `[data-testid="issued-${funder}"]`);
  const calls = await api.all("/v1/calls");
  check(calls.length === before + 1, "the call button did not issue one call");
  const call = calls.find((c) => issued.startsWith(c.number));
  check(call && call.funder_id === funder && call.from_month === target && issued.includes(euros(call.amount)),
    `the page says ${issued}; the API has ${call && call.number} of ${call && call.amount}`);
  const owed = split.lines.filter((l) => l.funder_id === funder).reduce((s, l) => s + cents(l.amount), 0);
  check(call && cents(call.amount) === owed, `the call asks ${call && call.amount}, the month allocated ${owed} cents`);
  await page.screenshot({ path: "target/app-month-end.png", fullPage: true });

  // At a phone's width the page does not overflow sideways.
  const phone = await open(browser, app.links.employer.replace(/#token=/, "#token="), 390);
  const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 1, `at 390 px the page is ${overflow} px too wide`);
  await phone.screenshot({ path: "target/app-employer-phone.png", fullPage: false });
  check(phone.errors.length === 0, `employer phone console: ${phone.errors.join(" | ")}`);
  await phone.close();
  check(page.errors.length === 0, `employer console: ${page.errors.join(" | ")}`);
  await page.close();
}

async function missionChecks(browser, app) {
  const api = client(app.base, app.tokens.mission);
  const page = await open(browser, app.links.mission);
  const overview = await api.get("/v1/reports/overview");
  check(await text(page, '[data-testid="posts"]') === `${overview.totals.posts} / ${overview.target.posts_target}`, "mission posts differ");
  check(await text(page, '[data-testid="cost"]') === euros(overview.totals.monthly_cost), "mission monthly cost differs");
  check(await text(page, '[data-testid="uncovered"]') === euros(overview.totals.uncovered), "mission uncovered differs");
  const byEmployer = await rows(page, "by-employer");
  check(byEmployer.length === overview.by_employer.length, "mission: employer rows differ");
  for (const [testid, list] of [["by-territory", overview.by_territory], ["by-activity", overview.by_activity], ["by-funder-kind", overview.by_funder_kind]]) {
    check((await rows(page, testid)).length === list.length, `mission: ${testid} rows differ`);
  }
  const risky = await api.all("/v1/reports/at-risk?within=6");
  check((await rows(page, "at-risk")).length === Math.max(1, risky.length), "mission: at-risk rows differ");
  await page.screenshot({ path: "target/app-mission.png", fullPage: true });
  const first = overview.by_employer[0];
  await page.click(`[data-testid="employer-${first.employer_id}"]`);
  await page.waitForSelector('table[data-testid="posts"]');
  await ready(page);
  const own = await api.get(`/v1/reports/overview?employer_id=${first.employer_id}`);
  check(await text(page, '[data-testid="cost"]') === euros(own.totals.monthly_cost), "mission employer page cost differs");
  check((await rows(page, "posts")).length === (await api.all(`/v1/posts?employer_id=${first.employer_id}`)).length,
    "mission employer page posts differ");
  await page.screenshot({ path: "target/app-mission-employer.png", fullPage: true });
  check(page.errors.length === 0, `mission console: ${page.errors.join(" | ")}`);
  await page.close();
}

/** The operator sees the region as the mission does. */
async function adminChecks(browser, app) {
  const api = client(app.base, app.tokens.admin);
  const page = await open(browser, app.links.admin);
  const overview = await api.get("/v1/reports/overview");
  check(await text(page, '[data-testid="posts"]') === `${overview.totals.posts} / ${overview.target.posts_target}`, "admin posts differ");
  check(await text(page, '[data-testid="allocated-total"]') === euros(overview.totals.allocated), "admin allocation differs");
  check(page.errors.length === 0, `admin console: ${page.errors.join(" | ")}`);
  await page.close();
}

async function expiredToken(browser, app) {
  const link = execFileSync(BINARY, ["token", "--role", "funder", "--funder-id", app.funderId, "--ttl", "3", "--link", app.base],
    { env: app.env, encoding: "utf8" }).trim();
  const page = await open(browser, link);
  check(await page.locator('[data-testid="allocated"]').count() === 1, "a fresh short token does not sign in");
  await new Promise((r) => setTimeout(r, 4500));
  // The refusal the test provokes is logged by the browser as a failed load: allowed.
  page.allowed.push(/status of 401/);
  await navigate(page, `#/poste/${app.postId}`);
  const message = await text(page, "#sign-in-message");
  check(await page.isVisible("#sign-in-form"), "an expired token does not return to sign-in");
  check(/expiré/.test(message) && /Connectez-vous de nouveau/.test(message), `the sign-in message says ${message}`);
  check(await page.evaluate(() => sessionStorage.getItem("portage-token")) === null, "the expired token is kept");
  check(page.errors.length === 0, `expired token console: ${page.errors.join(" | ")}`);
  await page.close();
}

/** Sign-in by pasting a token, with the keyboard only; the mission then opens a post page. */
async function keyboardSignIn(browser, app) {
  const page = await open(browser, `${app.base}/app/`);
  check(await page.isVisible("#sign-in-form"), "/app/ without a token does not ask for one");
  await page.focus("#token");
  await page.keyboard.insertText(app.tokens.mission);
  await page.keyboard.press("Tab");
  await page.keyboard.press("Enter");
  await page.waitForSelector('[data-testid="posts"]');
  await ready(page);
  check((await text(page, '[data-testid="role"]')).includes("mission"), "a pasted token does not sign the mission in");
  await navigate(page, `#/poste/${app.postId}`);
  const api = client(app.base, app.tokens.mission);
  const allocations = await api.all(`/v1/posts/${app.postId}/allocations`);
  check((await rows(page, "allocations")).length === allocations.length, "the mission's post page differs from the API");
  // An API error is shown as its problem's title and detail, not a blank page.
  const missing = "00000000-0000-7000-8000-000000000000";
  const response = await fetch(`${app.base}/v1/posts/${missing}`, { headers: { Authorization: `Bearer ${app.tokens.mission}` } });
  const problem = await response.json();
  page.allowed.push(/status of 404/);
  await navigate(page, `#/poste/${missing}`);
  const shown = await text(page, '[data-testid="problem"]');
  check(shown === normal(`${problem.title} : ${problem.detail}`), `a 404 shows ${shown}, the API says ${problem.title}: ${problem.detail}`);
  await page.click("#sign-out");
  check(await page.isVisible("#sign-in-form") && /déconnecté/.test(await text(page, "#sign-in-message")), "sign-out does not return to sign-in");
  check(await page.evaluate(() => sessionStorage.getItem("portage-token")) === null, "sign-out keeps the token");
  check(page.errors.length === 0, `keyboard sign-in console: ${page.errors.join(" | ")}`);
  await page.close();
}

async function main() {
  fs.mkdirSync("target", { recursive: true });
  const app = await start();
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-gpu"] });
  try {
    await funderChecks(browser, app);
    await employerChecks(browser, app);
    await missionChecks(browser, app);
    await adminChecks(browser, app);
    await expiredToken(browser, app);
    await keyboardSignIn(browser, app);
  } finally {
    await browser.close();
    app.server.kill();
  }
  if (failures.length) {
    console.error(failures.join("\n"));
    process.exit(1);
  }
  console.log("browser test passed: funder, employer (filters, post page, month-end buttons), mission and admin pages; " +
    "pasted token and sign-out with the keyboard; expired token; no console error; screenshots in target/app-*.png");
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
