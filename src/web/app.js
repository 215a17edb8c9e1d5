// portage-ledger's page: a client of the public API only. Every figure comes from /v1/... with
// the caller's own token, so the API's scope rules hold on the page by construction.
"use strict";

const TOKEN_KEY = "portage-token";
const money = new Intl.NumberFormat("fr-FR", { style: "currency", currency: "EUR" });
const monthName = new Intl.DateTimeFormat("fr-FR", { month: "long", year: "numeric", timeZone: "UTC" });
const dayName = new Intl.DateTimeFormat("fr-FR", { dateStyle: "long", timeZone: "UTC" });
const STATUS = { issued: "émis", partially_paid: "payé en partie", paid: "payé", cancelled: "annulé" };
const RISK = { red: "rouge", amber: "orange", green: "vert" };

/** An amount of the API ("1234.56") as French readers write it ("1 234,56 €"). */
function euros(text) {
  if (text === null || text === undefined) return "—";
  return money.format(Number(text));
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

/** An element with text and attributes; children appended in order. */
function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value !== undefined && value !== null) node.setAttribute(name, value);
  }
  for (const child of children) {
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** A table from column headings and rows; cells of class "amount" are aligned right. */
function table(caption, columns, rows, testid) {
  const head = el("tr", {}, ...columns.map(([label, cls]) => el("th", { scope: "col", class: cls }, label)));
  const body = rows.map((row) =>
    el("tr", {}, ...row.map((cell, i) => el("td", { class: columns[i][1] }, cell))));
  return el("table", { "data-testid": testid }, el("caption", {}, caption), el("thead", {}, head),
    el("tbody", {}, ...body));
}

/** A figure card. */
function card(label, value, testid) {
  return el("div", { class: "card" }, el("span", { class: "label" }, label),
    el("span", { class: "value", "data-testid": testid }, value));
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

/** A button that fetches a call's PDF with the token and hands it to the browser. */
function pdfButton(call, path, label) {
  const button = el("button", { type: "button", "aria-label": `${label} ${call.number} (PDF)` }, label);
  button.addEventListener("click", async () => {
    const token = sessionStorage.getItem(TOKEN_KEY);
    const response = await fetch(path, { headers: { Authorization: `Bearer ${token}` } });
    if (!response.ok) {
      button.replaceWith(el("span", { class: "problem" }, `PDF indisponible (${response.status})`));
      return;
    }
    const link = el("a", { href: URL.createObjectURL(await response.blob()), download: `${call.number}.pdf` });
    document.body.append(link);
    link.click();
    link.remove();
  });
  return button;
}

/** The documents of a call: the call, and its credit note once cancelled. */
function documents(call) {
  const cell = el("span", {}, pdfButton(call, `/v1/calls/${call.id}/document`, "Appel"));
  if (call.credit_note_number) {
    cell.append(" ", pdfButton(call, `/v1/calls/${call.id}/credit-note`, "Avoir"));
  }
  return cell;
}

/** GET an API path with the token; a 401 signs out, another problem is thrown as text. */
async function api(path) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const response = await fetch(path, { headers: { Authorization: `Bearer ${token}` } });
  const body = await response.json().catch(() => null);
  if (response.status === 401) {
    throw new Refused(body && body.detail ? body.detail : "jeton refusé");
  }
  if (!response.ok) {
    const title = body && body.title ? body.title : `Erreur ${response.status}`;
    throw new Error(body && body.detail ? `${title} : ${body.detail}` : title);
  }
  return body;
}

function showSignIn(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  document.getElementById("view").replaceChildren();
  document.getElementById("sign-out").hidden = true;
  document.getElementById("sign-in").hidden = false;
  document.getElementById("sign-in-message").textContent = message || "";
}

async function funderView(view, funderId) {
  const statement = await api(`/v1/funders/${funderId}/statement`);
  const totals = statement.totals;
  view.append(el("h2", {}, "Ma contribution"),
    el("div", { class: "cards" },
      card("Alloué", euros(totals.allocated), "allocated"),
      card("Appelé", euros(totals.called), "called"),
      card("Payé", euros(totals.paid), "paid"),
      card("Reste dû", euros(totals.outstanding), "outstanding"),
      card("Avoir", euros(totals.credit), "credit")));
  const byEmployer = new Map();
  for (const row of statement.by_post) {
    const key = row.employer_name || row.employer_id;
    const sum = byEmployer.get(key) || { allocated: 0, called: 0, paid: 0 };
    sum.allocated += Number(row.allocated); sum.called += Number(row.called); sum.paid += Number(row.paid);
    byEmployer.set(key, sum);
  }
  view.append(table("Par employeur", [["Employeur"], ["Alloué", "amount"], ["Appelé", "amount"], ["Payé", "amount"]],
    [...byEmployer].map(([name, s]) => [name, euros(s.allocated), euros(s.called), euros(s.paid)]), "by-employer"));
  view.append(table("Mes conventions", [["Référence"], ["Base"], ["Jusqu'à"], ["Alloué", "amount"], ["Plafond restant", "amount"]],
    statement.commitments.map((c) => [c.reference, c.basis, month(c.end_month), euros(c.allocated_to_date),
      c.cap_remaining === null ? "—" : euros(c.cap_remaining)]), "commitments"));
  const calls = await api("/v1/calls?limit=1000");
  view.append(table("Appels de fonds reçus", [["Numéro"], ["Échéance"], ["Statut"], ["Montant", "amount"], ["Reste dû", "amount"], ["Documents"]],
    calls.items.map((c) => [c.number, day(c.due_on), STATUS[c.status] || c.status, euros(c.amount), euros(c.outstanding), documents(c)]), "calls"));
  const risky = await api("/v1/reports/at-risk?within=6");
  view.append(table("Postes financés à surveiller", [["Poste"], ["Risque"], ["Financé jusqu'à"], ["Mois d'avance", "amount"]],
    risky.items.map((p) => [p.title || p.post_id, el("span", { class: `risk-${p.risk}` }, RISK[p.risk] || p.risk),
      month(p.funded_until), String(p.runway_months)]), "at-risk"));
}

async function employerView(view) {
  const posts = await api("/v1/posts?limit=1000");
  view.append(el("h2", {}, "Mes postes"),
    table("Postes", [["Référence"], ["Intitulé"], ["Territoire"], ["Budget mensuel", "amount"]],
      posts.items.map((p) => [p.reference || "—", p.title, p.territory, euros(p.monthly_budget)]), "posts"));
  const risky = await api("/v1/reports/at-risk?within=6");
  view.append(table("Postes à risque", [["Poste"], ["Risque"], ["Financé jusqu'à"], ["Mois d'avance", "amount"]],
    risky.items.map((p) => [p.title || p.post_id, el("span", { class: `risk-${p.risk}` }, RISK[p.risk] || p.risk),
      month(p.funded_until), String(p.runway_months)]), "at-risk"));
  const calls = await api("/v1/calls?limit=1000");
  view.append(table("Appels de fonds", [["Numéro"], ["Échéance"], ["Statut"], ["Montant", "amount"], ["Reste dû", "amount"], ["Documents"]],
    calls.items.map((c) => [c.number, day(c.due_on), STATUS[c.status] || c.status, euros(c.amount), euros(c.outstanding), documents(c)]), "calls"));
}

async function missionView(view) {
  const overview = await api("/v1/reports/overview");
  const totals = overview.totals;
  view.append(el("h2", {}, "Vue régionale"),
    el("div", { class: "cards" },
      card("Postes en cours", `${totals.posts} / ${overview.target.posts_target}`, "posts"),
      card("Coût mensuel", euros(totals.monthly_cost), "cost"),
      card("Financé", euros(totals.allocated), "allocated-total"),
      card("Non couvert", euros(totals.uncovered), "uncovered"),
      card("Postes en risque rouge", String((totals.risk || {}).red || 0), "red")));
  const risky = await api("/v1/reports/at-risk?within=6");
  view.append(table("Postes à risque", [["Poste"], ["Risque"], ["Financé jusqu'à"], ["Mois d'avance", "amount"]],
    risky.items.map((p) => [p.title || p.post_id, el("span", { class: `risk-${p.risk}` }, RISK[p.risk] || p.risk),
      month(p.funded_until), String(p.runway_months)]), "at-risk"));
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
  const view = document.getElementById("view");
  view.replaceChildren(el("p", { class: "role", "data-testid": "role" }, `Connecté en tant que ${who.role} (${who.sub})`));
  try {
    if (who.role === "funder") await funderView(view, who.funder_id);
    else if (who.role === "employer") await employerView(view);
    else await missionView(view);
  } catch (error) {
    if (error instanceof Refused) {
      showSignIn(`Votre session a expiré ou le jeton a été refusé : ${error.message}. Connectez-vous de nouveau.`);
    } else {
      view.append(el("p", { class: "problem", role: "alert" }, error.message));
    }
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
  show();
});
