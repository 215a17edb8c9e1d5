// portage-ledger's page: a client of the public API only. Every figure comes from /v1/... with
// the caller's own token, so the API's scope rules hold on the page by construction. Amounts
// are summed in integer cents, never in floating euros.
"use strict";

const TOKEN_KEY = "portage-token";
const money = new Intl.NumberFormat("fr-FR", { style: "currency", currency: "EUR" });
const percent = new Intl.NumberFormat("fr-FR", { maximumFractionDigits: 2 });
const monthName = new Intl.DateTimeFormat("fr-FR", { month: "long", year: "numeric", timeZone: "UTC" });
const dayName = new Intl.DateTimeFormat("fr-FR", { dateStyle: "long", timeZone: "UTC" });
const STATUS = { issued: "émis", partially_paid: "payé en partie", paid: "payé", cancelled: "annulé" };
const RISK = { red: "rouge", amber: "orange", green: "vert" };
const ACTIVITY = {
  housing: "logement", transport: "transports", education: "éducation", public_space: "espace public",
  access_to_rights: "accès aux droits", health: "santé", other: "autre",
};
const BASIS = { fixed: "montant fixe", share: "part", rate: "taux", activity: "activité" };
const FUNDER_KIND = {
  state: "État", region: "région", department: "département", municipality: "commune",
  intermunicipality: "intercommunalité", social_landlord: "bailleur social",
  transport_operator: "transporteur", public_bank: "banque publique", other: "autre",
};
const PALETTE = ["#1f5f8b", "#e07b39", "#3a9a5b", "#8e5ea2", "#c9a227", "#2a9d8f", "#6d6875", "#b5838d"];
const UNCOVERED_COLOUR = "#c0392b";

/** An amount of the API ("1234.56", "-3.5") in integer cents. */
function cents(text) {
  if (text === null || text === undefined) return 0;
  const negative = text.startsWith("-");
  const [whole, fraction = ""] = (negative ? text.slice(1) : text).split(".");
  const value = Number(whole) * 100 + Number((fraction + "00").slice(0, 2));
  return negative ? -value : value;
}

/** Cents as French readers write them: "1 234,56 €". */
function eurosOf(value) {
  return money.format(value / 100);
}

/** An amount of the API as French readers write it. */
function euros(text) {
  if (text === null || text === undefined) return "—";
  return eurosOf(cents(text));
}

/** A month of the API ("2026-11") as "novembre 2026". */
function month(text) {
  if (!text) return "—";
  const [y, m] = text.split("-").map(Number);
  return monthName.format(new Date(Date.UTC(y, m - 1, 1)));
}

/** A date of the API ("2026-12-31") as "31 décembre 2026". */
function day(text) {
  if (!text) return "—";
  const [y, m, d] = text.split("-").map(Number);
  return dayName.format(new Date(Date.UTC(y, m - 1, d)));
}

/** Months as counts since year 0, so that timelines can be drawn on a number axis. */
function monthIndex(text) {
  const [y, m] = text.split("-").map(Number);
  return y * 12 + (m - 1);
}

function monthOfIndex(index) {
  const y = Math.floor(index / 12);
  return `${y}-${String((index % 12) + 1).padStart(2, "0")}`;
}

/** Today in Paris, as the API dates things. */
function today() {
  return new Intl.DateTimeFormat("en-CA", { timeZone: "Europe/Paris" }).format(new Date());
}

function addDays(date, days) {
  const [y, m, d] = date.split("-").map(Number);
  return new Date(Date.UTC(y, m - 1, d + days)).toISOString().slice(0, 10);
}

/** An element with attributes; children (nodes or text) appended in order. */
function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value !== undefined && value !== null && value !== false) node.setAttribute(name, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** A table from column headings and rows; columns of class "amount" are aligned right. */
function table(caption, columns, rows, testid) {
  const head = el("tr", {}, columns.map(([label, cls]) => el("th", { scope: "col", class: cls }, label)));
  const body = rows.length
    ? rows.map((row) => el("tr", {}, row.map((cell, i) => el("td", { class: columns[i][1] }, cell))))
    : [el("tr", {}, el("td", { colspan: columns.length, class: "empty" }, "Aucune ligne."))];
  return el("div", { class: "table-wrap" },
    el("table", { "data-testid": testid }, el("caption", {}, caption), el("thead", {}, head), el("tbody", {}, body)));
}

/** A figure card. */
function card(label, value, testid) {
  return el("div", { class: "card" }, el("span", { class: "label" }, label),
    el("span", { class: "value", "data-testid": testid }, value));
}

function riskBadge(risk) {
  return el("span", { class: `risk risk-${risk}` }, RISK[risk] || risk);
}

function link(href, text, testid) {
  return el("a", { href, "data-testid": testid }, text);
}

/** The claims of a token, read without checking it (the API checks it). */
function claims(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(decodeURIComponent(escape(atob(part))));
  } catch (_) {
    return null;
  }
}

class Refused extends Error {}

/** The problem document of an answer, as a sentence: its title and detail. */
async function problem(response) {
  const body = await response.json().catch(() => null);
  if (response.status === 401) {
    return new Refused(body && body.detail ? body.detail : "jeton refusé");
  }
  const title = body && body.title ? body.title : `Erreur ${response.status}`;
  return new Error(body && body.detail ? `${title} : ${body.detail}` : title);
}

function authorization() {
  return { Authorization: `Bearer ${sessionStorage.getItem(TOKEN_KEY)}` };
}

/** GET an API path with the token; a problem is thrown with its title and detail. */
async function api(path) {
  const response = await fetch(path, { headers: authorization() });
  if (!response.ok) throw await problem(response);
  return response.json();
}

/** POST to the API with a fresh Idempotency-Key, so that a double click records once. */
async function post(path, body) {
  const response = await fetch(path, {
    method: "POST",
    headers: { ...authorization(), "Content-Type": "application/json", "Idempotency-Key": crypto.randomUUID() },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw await problem(response);
  return response.json();
}

/** Every item of a paged list, following its cursors. */
async function all(path) {
  const items = [];
  let cursor = null;
  do {
    const separator = path.includes("?") ? "&" : "?";
    const page = await api(`${path}${separator}limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor);
  return items;
}

/** A chart drawn by Chart.js on a labelled canvas; the same figures are in a table beside it. */
function chart(label, config, testid) {
  const canvas = el("canvas", { role: "img", "aria-label": label, "data-testid": testid });
  const box = el("figure", { class: "chart" }, el("figcaption", {}, label), el("div", { class: "chart-box" }, canvas));
  queueMicrotask(() => {
    const common = {
      responsive: true, maintainAspectRatio: false, animation: false, locale: "fr-FR",
      plugins: { tooltip: { callbacks: {} } },
    };
    config.options = { ...common, ...(config.options || {}) };
    // eslint-disable-next-line no-undef
    new Chart(canvas, config);
  });
  return box;
}

const euroTicks = { callback: (value) => money.format(value) };

/** A button that fetches a call's PDF with the token and hands it to the browser. */
function pdfButton(call, path, label) {
  const button = el("button", { type: "button", "aria-label": `${label} ${call.number} (PDF)` }, label);
  button.addEventListener("click", async () => {
    const response = await fetch(path, { headers: authorization() });
    if (!response.ok) {
      button.replaceWith(el("span", { class: "problem" }, (await problem(response)).message));
      return;
    }
    const a = el("a", { href: URL.createObjectURL(await response.blob()), download: `${call.number}.pdf` });
    document.body.append(a);
    a.click();
    a.remove();
  });
  return button;
}

/** The documents of a call: the call, and its credit note once cancelled. */
function documents(call) {
  const cell = el("span", {}, pdfButton(call, `/v1/calls/${call.id}/document`, "Appel"));
  if (call.credit_note_number) cell.append(" ", pdfButton(call, `/v1/calls/${call.id}/credit-note`, "Avoir"));
  return cell;
}

/** How late a call is, in days past its due date, while something is outstanding. */
function lateness(call) {
  if (cents(call.outstanding) <= 0 || call.status === "cancelled") return "—";
  const late = Math.round((Date.parse(today()) - Date.parse(call.due_on)) / 86400000);
  return late > 0 ? `${late} j de retard` : "à échoir";
}

function callsTable(caption, calls, testid) {
  return table(caption,
    [["Numéro"], ["Période"], ["Échéance"], ["Statut"], ["Ancienneté"], ["Montant", "amount"], ["Reste dû", "amount"], ["Documents"]],
    calls.map((c) => [c.number, `${month(c.from_month)} – ${month(c.to_month)}`, day(c.due_on),
      STATUS[c.status] || c.status, lateness(c), euros(c.amount), euros(c.outstanding), documents(c)]), testid);
}

function agingTable(aging) {
  return table("Restes dus par ancienneté", [["Non échu", "amount"], ["0 à 30 j", "amount"], ["31 à 60 j", "amount"],
    ["61 à 90 j", "amount"], ["Plus de 90 j", "amount"]],
  [[euros(aging.not_due), euros(aging["0_30"]), euros(aging["31_60"]), euros(aging["61_90"]), euros(aging.over_90)]], "aging");
}

/** Posts with their continuity verdict (from the at-risk report over the longest window). */
async function postsWithRisk(query) {
  const [posts, risks] = await Promise.all([all(`/v1/posts${query}`), all(`/v1/reports/at-risk?within=120${query ? `&${query.slice(1)}` : ""}`)]);
  const byPost = new Map(risks.map((r) => [r.post_id, r]));
  return posts.map((p) => ({ post: p, risk: byPost.get(p.id) || null }));
}

function showSignIn(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  document.getElementById("view").replaceChildren();
  document.getElementById("nav").replaceChildren();
  document.getElementById("sign-out").hidden = true;
  document.getElementById("sign-in").hidden = false;
  document.getElementById("sign-in-message").textContent = message || "";
  document.getElementById("token").focus();
}

// ---------------------------------------------------------------------------------------------
// The funder

async function funderHome(view, funderId) {
  const statement = await api(`/v1/funders/${funderId}/statement`);
  const totals = statement.totals;
  view.append(el("h2", {}, "Ma contribution"),
    el("div", { class: "cards" },
      card("Alloué", euros(totals.allocated), "allocated"),
      card("Appelé", euros(totals.called), "called"),
      card("Payé", euros(totals.paid), "paid"),
      card("Reste dû", euros(totals.outstanding), "outstanding"),
      card("Avoir", euros(totals.credit), "credit")));
  // Per employer, each employer's own statement: the API's figures, not a sum made here.
  const employers = new Map();
  for (const row of statement.by_post) employers.set(row.employer_id, row.employer_name || row.employer_id);
  const perEmployer = await Promise.all([...employers].map(async ([id, name]) => {
    const own = await api(`/v1/funders/${funderId}/statement?employer_id=${id}`);
    return [name, euros(own.totals.allocated), euros(own.totals.called), euros(own.totals.paid), euros(own.totals.outstanding),
      euros(own.totals.credit)];
  }));
  view.append(table("Par employeur", [["Employeur"], ["Alloué", "amount"], ["Appelé", "amount"], ["Payé", "amount"], ["Reste dû", "amount"], ["Avoir", "amount"]],
    perEmployer, "by-employer"));
  view.append(table("Mes conventions", [["Référence"], ["Base"], ["Du"], ["Au"], ["Alloué", "amount"], ["Plafond", "amount"], ["Plafond utilisé"]],
    statement.commitments.map((c) => [c.reference, BASIS[c.basis] || c.basis, month(c.start_month), month(c.end_month),
      euros(c.allocated_to_date), c.cap === null ? "—" : euros(c.cap),
      c.cap === null ? "—" : `${percent.format((100 * cents(c.allocated_to_date)) / Math.max(1, cents(c.cap)))} %`]), "commitments"));
  const calls = await all("/v1/calls");
  view.append(callsTable("Appels de fonds reçus", calls, "calls"), agingTable(statement.aging));
  const posts = await postsWithRisk("");
  view.append(table("Les postes que je finance",
    [["Référence"], ["Poste"], ["Territoire"], ["Risque"], ["Financé jusqu'à"], ["Mois d'avance", "amount"]],
    posts.map(({ post, risk }) => [post.reference || "—", link(`#/poste/${post.id}`, post.title), post.territory,
      risk ? riskBadge(risk.risk) : "—", risk ? month(risk.funded_until) : "—", risk ? String(risk.runway_months) : "—"]), "funded-posts"));
}

async function funderPost(view, funderId, postId) {
  const [post, allocations, continuity] = await Promise.all([
    api(`/v1/posts/${postId}`), all(`/v1/posts/${postId}/allocations`), api(`/v1/posts/${postId}/continuity`)]);
  const own = (lines) => lines.filter((l) => l.funder_id === funderId).reduce((sum, l) => sum + cents(l.amount), 0);
  const past = allocations.map((m) => [m.month, own(m.lines)]);
  const ahead = continuity.months.map((m) => [m.month, own(m.lines)]);
  view.append(el("h2", {}, post.title),
    el("p", {}, `${post.reference || ""} · ${post.territory} · ${ACTIVITY[post.activity] || post.activity}`),
    el("div", { class: "cards" },
      card("Risque", riskBadge(continuity.risk), "risk"),
      card("Financé jusqu'à", month(continuity.funded_until), "funded-until"),
      card("Mois d'avance", String(continuity.runway_months), "runway")));
  view.append(chart("Mes montants par mois : alloués puis projetés", {
    type: "bar",
    data: {
      labels: [...past, ...ahead].map(([m]) => month(m)),
      datasets: [
        { label: "Alloué", data: [...past.map(([, c]) => c / 100), ...ahead.map(() => null)], backgroundColor: PALETTE[0] },
        { label: "Projeté", data: [...past.map(() => null), ...ahead.map(([, c]) => c / 100)], backgroundColor: PALETTE[2] },
      ],
    },
    options: { scales: { x: { stacked: true }, y: { stacked: true, ticks: euroTicks } } },
  }, "funder-post-chart"));
  view.append(table("Mes allocations mensuelles", [["Mois"], ["Montant", "amount"]],
    past.map(([m, c]) => [month(m), eurosOf(c)]), "own-allocations"));
  view.append(table("Mes montants projetés", [["Mois"], ["Montant", "amount"]],
    ahead.map(([m, c]) => [month(m), eurosOf(c)]), "own-projection"));
}

// ---------------------------------------------------------------------------------------------
// The employer

function postFilters(rows, render) {
  const options = (values, label, name) => el("label", {}, label, " ",
    el("select", { name, "data-testid": `filter-${name}` }, el("option", { value: "" }, "tous"),
      [...new Set(values)].sort().map((v) => el("option", { value: v }, name === "activity" ? ACTIVITY[v] || v : name === "risk" ? RISK[v] || v : v))));
  const form = el("form", { class: "filters", "aria-label": "Filtrer les postes" },
    options(rows.map((r) => r.post.territory), "Territoire", "territory"),
    options(rows.map((r) => r.post.activity), "Activité", "activity"),
    options(rows.filter((r) => r.risk).map((r) => r.risk.risk), "Risque", "risk"),
    el("label", {}, "Trier ", el("select", { name: "sort", "data-testid": "sort" },
      el("option", { value: "" }, "par référence"),
      el("option", { value: "runway" }, "par mois d'avance, les plus courts d'abord"),
      el("option", { value: "-runway" }, "par mois d'avance, les plus longs d'abord"))));
  const apply = () => {
    const f = Object.fromEntries(new FormData(form));
    let shown = rows.filter((r) => (!f.territory || r.post.territory === f.territory)
      && (!f.activity || r.post.activity === f.activity) && (!f.risk || (r.risk && r.risk.risk === f.risk)));
    const runway = (r) => (r.risk ? r.risk.runway_months : Infinity);
    if (f.sort === "runway") shown = [...shown].sort((a, b) => runway(a) - runway(b));
    if (f.sort === "-runway") shown = [...shown].sort((a, b) => runway(b) - runway(a));
    render(shown);
  };
  form.addEventListener("change", apply);
  form.addEventListener("submit", (event) => event.preventDefault());
  return { form, apply };
}

function postsTable(rows) {
  return table("Postes", [["Référence"], ["Intitulé"], ["Territoire"], ["Activité"], ["Risque"], ["Financé jusqu'à"], ["Mois d'avance", "amount"], ["Budget mensuel", "amount"]],
    rows.map(({ post, risk }) => [post.reference || "—", link(`#/poste/${post.id}`, post.title), post.territory,
      ACTIVITY[post.activity] || post.activity, risk ? riskBadge(risk.risk) : "—", risk ? month(risk.funded_until) : "—",
      risk ? String(risk.runway_months) : "—", euros(post.monthly_budget)]), "posts");
}

async function employerHome(view, employerId) {
  const rows = await postsWithRisk(employerId ? `?employer_id=${employerId}` : "");
  const holder = el("div", {});
  const { form, apply } = postFilters(rows, (shown) => holder.replaceChildren(postsTable(shown)));
  view.append(el("h2", {}, "Mes postes"), form, holder);
  apply();
  const calls = await all("/v1/calls");
  view.append(callsTable("Appels de fonds", calls, "calls"));
}

async function employerPost(view, postId) {
  const [post, allocations, continuity, commitments, funders] = await Promise.all([
    api(`/v1/posts/${postId}`), all(`/v1/posts/${postId}/allocations`), api(`/v1/posts/${postId}/continuity`),
    all(`/v1/commitments?post_id=${postId}`), all("/v1/funders")]);
  const funderName = new Map(funders.map((f) => [f.id, f.name]));
  const funderIds = [...new Set(commitments.map((c) => c.funder_id))];
  view.append(el("h2", {}, post.title),
    el("p", {}, `${post.reference || ""} · ${post.territory} · ${ACTIVITY[post.activity] || post.activity} · ${post.fte} ETP`),
    el("div", { class: "cards" },
      card("Budget mensuel", euros(post.monthly_budget), "monthly-budget"),
      card("Risque", riskBadge(continuity.risk), "risk"),
      card("Financé jusqu'à", month(continuity.funded_until), "funded-until"),
      card("Mois d'avance", String(continuity.runway_months), "runway")));

  const byFunder = (m, funder) => m.lines.filter((l) => l.funder_id === funder).reduce((s, l) => s + cents(l.amount), 0);
  view.append(chart("Coût de chaque mois et sa répartition par financeur", {
    type: "bar",
    data: {
      labels: allocations.map((m) => month(m.month)),
      datasets: [
        ...funderIds.map((f, i) => ({ label: funderName.get(f) || f, data: allocations.map((m) => byFunder(m, f) / 100), backgroundColor: PALETTE[i % PALETTE.length], stack: "split" })),
        { label: "Non couvert", data: allocations.map((m) => cents(m.uncovered) / 100), backgroundColor: UNCOVERED_COLOUR, stack: "split" },
        { label: "Coût", type: "line", data: allocations.map((m) => cents(m.cost) / 100), borderColor: "#222", backgroundColor: "#222" },
      ],
    },
    options: { scales: { x: { stacked: true }, y: { stacked: true, ticks: euroTicks } } },
  }, "allocation-chart"));
  view.append(table("Répartition par mois", [["Mois"], ["Coût", "amount"], ...funderIds.map((f) => [funderName.get(f) || f, "amount"]), ["Non couvert", "amount"]],
    allocations.map((m) => [month(m.month), euros(m.cost), ...funderIds.map((f) => eurosOf(byFunder(m, f))), euros(m.uncovered)]), "allocations"));

  const threshold = Number(continuity.threshold);
  view.append(chart(`Projection de la couverture, seuil ${percent.format(threshold)} %`, {
    type: "bar",
    data: {
      labels: continuity.months.map((m) => month(m.month)),
      datasets: [
        { label: "Couverture (%)", data: continuity.months.map((m) => (m.coverage === null ? null : Number(m.coverage))), backgroundColor: continuity.months.map((m) => (m.coverage !== null && Number(m.coverage) >= threshold ? PALETTE[2] : UNCOVERED_COLOUR)) },
        { label: "Seuil", type: "line", data: continuity.months.map(() => threshold), borderColor: "#222", pointRadius: 0 },
      ],
    },
    options: { scales: { y: { min: 0, suggestedMax: 100, ticks: { callback: (v) => `${v} %` } } } },
  }, "continuity-chart"));
  view.append(table("Projection", [["Mois"], ["Budget", "amount"], ["Alloué", "amount"], ["Non couvert", "amount"], ["Couverture", "amount"]],
    continuity.months.map((m) => [month(m.month), euros(m.budget), euros(m.allocated), euros(m.uncovered),
      m.coverage === null ? "—" : `${percent.format(Number(m.coverage))} %`]), "continuity"));

  // The commitments on a timeline, and where continuous funding stops.
  const start = monthIndex(continuity.as_of);
  const end = start + continuity.horizon;
  const stop = continuity.funded_until ? monthIndex(continuity.funded_until) + 1 : start;
  const bars = commitments.map((c) => [monthIndex(c.start_month), monthIndex(c.end_month) + 1]);
  const first = Math.min(start, ...bars.map(([from]) => from));
  const last = Math.max(end, ...bars.map(([, to]) => to));
  view.append(chart(`Conventions dans le temps ; le financement continu s'arrête ${continuity.funded_until ? `après ${month(continuity.funded_until)}` : "dès ce mois"}`, {
    type: "bar",
    data: {
      labels: [...commitments.map((c) => `${funderName.get(c.funder_id) || c.funder_id} (${c.reference})`), "Financement continu"],
      datasets: [
        { label: "En vigueur", data: [...bars, [start, stop]], grouped: false, backgroundColor: [...commitments.map((_, i) => PALETTE[i % PALETTE.length]), PALETTE[2]] },
        { label: "Non financé", data: [...commitments.map(() => null), stop < end ? [stop, end] : null], grouped: false, backgroundColor: UNCOVERED_COLOUR },
      ],
    },
    options: {
      indexAxis: "y",
      scales: { x: { type: "linear", min: first, max: last, ticks: { stepSize: 3, callback: (v) => month(monthOfIndex(v)) } } },
    },
  }, "timeline-chart"));
  view.append(table("Conventions", [["Financeur"], ["Référence"], ["Base"], ["Du"], ["Au"], ["Alloué", "amount"], ["Plafond restant", "amount"]],
    commitments.map((c) => [funderName.get(c.funder_id) || c.funder_id, c.reference, BASIS[c.basis] || c.basis, month(c.start_month),
      month(c.end_month), euros(c.allocated_to_date), c.cap_remaining === null ? "—" : euros(c.cap_remaining)]), "post-commitments"));
}

/** The month before this one, the usual month-end. */
function lastMonth() {
  return monthOfIndex(monthIndex(today().slice(0, 7)) - 1);
}

async function monthEnd(view, employerId, asked) {
  const m = /^\d{4}-\d{2}$/.test(asked || "") ? asked : lastMonth();
  const picker = el("form", { class: "filters", "aria-label": "Choisir le mois" },
    el("label", { for: "month-end-month" }, "Mois "),
    el("input", { id: "month-end-month", type: "month", value: m, required: true }),
    el("button", { type: "submit" }, "Afficher"));
  picker.addEventListener("submit", (event) => {
    event.preventDefault();
    location.hash = `#/fin-de-mois/${document.getElementById("month-end-month").value}`;
  });
  view.append(el("h2", {}, `Fin de mois : ${month(m)}`), picker);

  const posts = await all(`/v1/posts?employer_id=${employerId}`);
  const costs = await Promise.all(posts.map((p) => all(`/v1/posts/${p.id}/costs?from=${m}&to=${m}`)));
  const recorded = posts.map((p, i) => [p, costs[i].filter((c) => !c.reverses && !c.reversed_by)])
    .filter(([, list]) => list.length > 0);
  view.append(el("p", { "data-testid": "posts-with-costs" },
    `${recorded.length} poste(s) sur ${posts.length} ont des coûts enregistrés pour ${month(m)}.`));
  view.append(table("Coûts du mois", [["Référence"], ["Poste"], ["Lignes", "amount"], ["Coût", "amount"]],
    recorded.map(([p, list]) => [p.reference || "—", link(`#/poste/${p.id}`, p.title), String(list.length),
      eurosOf(list.reduce((s, c) => s + cents(c.amount), 0))]), "month-costs"));

  const runStatus = el("div", { role: "status", "data-testid": "run-status" });
  const run = el("button", { type: "button", "data-testid": "run-allocation" }, `Lancer la répartition de ${month(m)}`);
  run.addEventListener("click", async () => {
    run.disabled = true;
    try {
      const answer = await post("/v1/allocations/run", { employer_id: employerId, month: m });
      runStatus.replaceChildren(el("p", {}, `Répartition faite : ${answer.results.length} poste(s).`),
        table("Résultat de la répartition", [["Poste"], ["Coût", "amount"], ["Alloué", "amount"], ["Non couvert", "amount"], ["Écritures", "amount"]],
          answer.results.map((r) => [posts.find((p) => p.id === r.post_id)?.title || r.post_id, euros(r.cost), euros(r.allocated),
            euros(r.uncovered), String(r.entries_posted)]), "run-results"));
      await showCalls();
    } catch (error) {
      runStatus.replaceChildren(el("p", { class: "problem", role: "alert" }, error.message));
    } finally {
      run.disabled = false;
    }
  });
  view.append(el("section", { "aria-label": "Répartition" }, el("h3", {}, "Répartition"), run, runStatus));

  const callsHolder = el("section", { "aria-label": "Appels de fonds" });
  view.append(callsHolder);
  const funders = await all("/v1/funders");
  const funderName = new Map(funders.map((f) => [f.id, f.name]));
  async function showCalls() {
    const [allocations, calls] = await Promise.all([
      Promise.all(posts.map((p) => all(`/v1/posts/${p.id}/allocations?from=${m}&to=${m}`))),
      all(`/v1/calls?employer_id=${employerId}`)]);
    const allocated = new Map();
    for (const line of allocations.flat().flatMap((a) => a.lines)) {
      allocated.set(line.funder_id, (allocated.get(line.funder_id) || 0) + cents(line.amount));
    }
    const called = new Map();
    for (const call of calls.filter((c) => c.status !== "cancelled")) {
      for (const line of call.lines.filter((l) => l.month === m)) {
        called.set(call.funder_id, (called.get(call.funder_id) || 0) + cents(line.amount));
      }
    }
    const rows = [...allocated].filter(([, amount]) => amount > 0).map(([funder, amount]) => {
      const left = amount - (called.get(funder) || 0);
      const action = el("span", { "data-testid": `call-action-${funder}` });
      if (left > 0) {
        const issue = el("button", { type: "button", "data-testid": `issue-call-${funder}` }, "Émettre l'appel");
        issue.addEventListener("click", async () => {
          issue.disabled = true;
          try {
            const call = await post("/v1/calls", {
              employer_id: employerId, funder_id: funder, from_month: m, to_month: m,
              issued_on: today(), due_on: addDays(today(), 30),
            });
            action.replaceChildren(el("span", { "data-testid": `issued-${funder}` }, `${call.number} émis : ${euros(call.amount)}`));
          } catch (error) {
            issue.disabled = false;
            action.append(el("p", { class: "problem", role: "alert" }, error.message));
          }
        });
        action.append(issue);
      } else {
        action.append("déjà appelé");
      }
      return [funderName.get(funder) || funder, eurosOf(amount), eurosOf(called.get(funder) || 0), eurosOf(Math.max(0, left)), action];
    });
    callsHolder.replaceChildren(el("h3", {}, "Appels à émettre"),
      table(`Appels de fonds pour ${month(m)}`, [["Financeur"], ["Alloué", "amount"], ["Déjà appelé", "amount"], ["À appeler", "amount"], ["Action"]], rows, "calls-to-issue"));
  }
  await showCalls();
}

// ---------------------------------------------------------------------------------------------
// The mission

function tallyRow(t) {
  return [String(t.posts), t.fte, euros(t.monthly_cost), euros(t.allocated), euros(t.uncovered),
    t.coverage === null ? "—" : `${percent.format(Number(t.coverage))} %`, String(t.risk.red), String(t.risk.amber), String(t.risk.green)];
}

const TALLY_COLUMNS = [["Postes", "amount"], ["ETP", "amount"], ["Coût mensuel", "amount"], ["Financé", "amount"],
  ["Non couvert", "amount"], ["Couverture", "amount"], ["Rouge", "amount"], ["Orange", "amount"], ["Vert", "amount"]];

function overviewCards(overview) {
  const totals = overview.totals;
  return el("div", { class: "cards" },
    card("Postes en cours", `${totals.posts} / ${overview.target.posts_target}`, "posts"),
    card("ETP", totals.fte, "fte"),
    card("Coût mensuel", euros(totals.monthly_cost), "cost"),
    card("Financé", euros(totals.allocated), "allocated-total"),
    card("Non couvert", euros(totals.uncovered), "uncovered"),
    card("Couverture", totals.coverage === null ? "—" : `${percent.format(Number(totals.coverage))} %`, "coverage"),
    card("Postes en risque rouge", String(totals.risk.red), "red"));
}

function atRiskTable(items) {
  return table("Postes à risque (moins de six mois d'avance ou un trou)", [["Poste"], ["Territoire"], ["Risque"], ["Financé jusqu'à"], ["Mois d'avance", "amount"]],
    items.map((p) => [p.title, p.territory, riskBadge(p.risk), month(p.funded_until), String(p.runway_months)]), "at-risk");
}

async function missionHome(view) {
  const [overview, risky] = await Promise.all([api("/v1/reports/overview"), all("/v1/reports/at-risk?within=6")]);
  view.append(el("h2", {}, "Vue régionale"), overviewCards(overview));
  view.append(table("Par employeur", [["Employeur"], ...TALLY_COLUMNS],
    overview.by_employer.map((t) => [link(`#/employeur/${t.employer_id}`, t.name, `employer-${t.employer_id}`), ...tallyRow(t)]), "by-employer"));
  view.append(table("Par territoire", [["Territoire"], ...TALLY_COLUMNS], overview.by_territory.map((t) => [t.territory, ...tallyRow(t)]), "by-territory"));
  view.append(table("Par activité", [["Activité"], ...TALLY_COLUMNS], overview.by_activity.map((t) => [ACTIVITY[t.activity] || t.activity, ...tallyRow(t)]), "by-activity"));
  view.append(table("Par type de financeur", [["Type"], ["Postes", "amount"], ["Financé", "amount"]],
    overview.by_funder_kind.map((t) => [FUNDER_KIND[t.kind] || t.kind, String(t.posts), euros(t.allocated)]), "by-funder-kind"));
  view.append(atRiskTable(risky));
}

async function missionEmployer(view, employerId) {
  const [employer, overview, risky] = await Promise.all([api(`/v1/employers/${employerId}`),
    api(`/v1/reports/overview?employer_id=${employerId}`), all(`/v1/reports/at-risk?within=6&employer_id=${employerId}`)]);
  view.append(el("h2", {}, employer.name), overviewCards(overview), atRiskTable(risky));
  const rows = await postsWithRisk(`?employer_id=${employerId}`);
  view.append(postsTable(rows));
}

// ---------------------------------------------------------------------------------------------
// Routing

function route() {
  const [page, arg] = location.hash.replace(/^#\/?/, "").split("/");
  return { page: page || "", arg: arg ? decodeURIComponent(arg) : null };
}

function navigation(who) {
  const items = [link("#/", "Accueil")];
  if (who.role === "employer") items.push(link(`#/fin-de-mois/${lastMonth()}`, "Fin de mois", "nav-month-end"));
  return el("ul", {}, items.map((a) => el("li", {}, a)));
}

async function show() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const who = token && claims(token);
  if (!who) {
    showSignIn(token ? "Ce jeton n'est pas lisible." : "");
    return;
  }
  document.getElementById("sign-in").hidden = true;
  document.getElementById("sign-out").hidden = false;
  document.getElementById("nav").replaceChildren(navigation(who));
  const view = document.getElementById("view");
  view.setAttribute("aria-busy", "true");
  view.replaceChildren(el("p", { class: "role", "data-testid": "role" }, `Connecté en tant que ${who.role} (${who.sub})`));
  const { page, arg } = route();
  try {
    if (who.role === "funder") {
      if (page === "poste" && arg) await funderPost(view, who.funder_id, arg);
      else await funderHome(view, who.funder_id);
    } else if (who.role === "employer") {
      if (page === "poste" && arg) await employerPost(view, arg);
      else if (page === "fin-de-mois") await monthEnd(view, who.employer_id, arg);
      else await employerHome(view, who.employer_id);
    } else if (page === "employeur" && arg) {
      await missionEmployer(view, arg);
    } else if (page === "poste" && arg) {
      await employerPost(view, arg);
    } else {
      await missionHome(view);
    }
  } catch (error) {
    if (error instanceof Refused) {
      showSignIn(`Votre session a expiré ou le jeton a été refusé : ${error.message}. Connectez-vous de nouveau.`);
      return;
    }
    view.append(el("p", { class: "problem", role: "alert", "data-testid": "problem" }, error.message));
  } finally {
    view.removeAttribute("aria-busy");
    view.dataset.ready = "true";
  }
}

document.addEventListener("DOMContentLoaded", () => {
  // A sign-in link carries the token in the fragment, which never reaches the server.
  const match = location.hash.match(/token=([^&]+)/);
  if (match) {
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
    history.replaceState(null, "", location.pathname);
  }
  document.getElementById("sign-in-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, document.getElementById("token").value.trim());
    show();
  });
  document.getElementById("sign-out").addEventListener("click", () => showSignIn("Vous êtes déconnecté."));
  window.addEventListener("hashchange", () => {
    document.getElementById("view").dataset.ready = "false";
    // A new page: the keyboard and screen readers start from its content, not the old link.
    document.getElementById("main").focus();
    show();
  });
  show();
});
