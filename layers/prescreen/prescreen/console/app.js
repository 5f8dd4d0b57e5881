// The operators' console: review queue, decision detail, claim / verdict / reopen, audit and callbacks.
// Plain ES module, no dependencies. Seller text is hostile input: it only ever reaches the page via textContent.

const TOKEN_KEY = "prescreen.console.token";
const PKCE_KEY = "prescreen.console.pkce";
const MARKETPLACE_KEY = "prescreen.console.marketplace";
const CATEGORIES = [
  "ANIMAL_WELFARE", "CONSUMER_INFORMATION", "CYBER_VIOLENCE", "CYBER_VIOLENCE_AGAINST_WOMEN",
  "DATA_PROTECTION_AND_PRIVACY_VIOLATIONS", "ILLEGAL_OR_HARMFUL_SPEECH", "INTELLECTUAL_PROPERTY_INFRINGEMENTS",
  "NEGATIVE_EFFECTS_ON_CIVIC_DISCOURSE_OR_ELECTIONS", "NOT_SPECIFIED_NOTICE", "OTHER_VIOLATION_TC",
  "PROTECTION_OF_MINORS", "RISK_FOR_PUBLIC_SECURITY", "SCAMS_AND_FRAUD", "SELF_HARM",
  "UNSAFE_AND_PROHIBITED_PRODUCTS", "VIOLENCE",
].map((name) => "STATEMENT_CATEGORY_" + name);

// ---------------------------------------------------------------------------------------------------------------
// Pure helpers (exported so they can be checked in a browser without a server round trip)
// ---------------------------------------------------------------------------------------------------------------

/** "42 s", "5 min", "3 h", "2 d" from a number of seconds. */
export function humanAge(seconds) {
  const s = Math.max(0, Math.floor(Number(seconds) || 0));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86400) return `${Math.floor(s / 3600)} h`;
  return `${Math.floor(s / 86400)} d`;
}

/** The reference tokens of an RFC 6901 JSON pointer ("" is the whole document). */
export function parsePointer(pointer) {
  if (pointer === "") return [];
  if (typeof pointer !== "string" || !pointer.startsWith("/")) return null;
  return pointer.slice(1).split("/").map((token) => token.replaceAll("~1", "/").replaceAll("~0", "~"));
}

/** The pointer of a listing attribute: "/attributes/" + the key with "~" and "/" escaped. */
export function attributePointer(key) {
  return "/attributes/" + key.replaceAll("~", "~0").replaceAll("/", "~1");
}

/** The value a JSON pointer designates in `doc`, or undefined. */
export function resolvePointer(doc, pointer) {
  const tokens = parsePointer(pointer);
  if (tokens === null) return undefined;
  let value = doc;
  for (const token of tokens) {
    if (value === null || typeof value !== "object" || !Object.prototype.hasOwnProperty.call(value, token)) {
      return undefined;
    }
    value = value[token];
  }
  return value;
}

/**
 * Cut `text` into consecutive segments at every span boundary. Spans are [start, end) in CODE POINTS (not UTF-16
 * units), may overlap and may be out of range (clipped). Each segment lists the indexes of the spans covering it,
 * so overlapping spans become flat, non-nested <mark>s.
 */
export function segmentText(text, spans) {
  const points = Array.from(text);
  const n = points.length;
  const clipped = spans.map((span) => {
    const start = Math.min(Math.max(0, Math.trunc(span.start)), n);
    const end = Math.min(Math.max(start, Math.trunc(span.end)), n);
    return { start, end };
  });
  const cuts = new Set([0, n]);
  for (const { start, end } of clipped) {
    if (end > start) {
      cuts.add(start);
      cuts.add(end);
    }
  }
  const bounds = [...cuts].sort((a, b) => a - b);
  const segments = [];
  for (let i = 0; i + 1 < bounds.length; i += 1) {
    const [from, to] = [bounds[i], bounds[i + 1]];
    if (to <= from) continue;
    const covering = [];
    clipped.forEach((span, index) => {
      if (span.start <= from && to <= span.end && span.end > span.start) covering.push(index);
    });
    segments.push({ text: points.slice(from, to).join(""), spans: covering });
  }
  if (segments.length === 0) segments.push({ text: "", spans: [] });
  return segments;
}

/**
 * The [start, end) code-point span of one piece of evidence in `text`. The offsets are trusted when the words
 * there are the evidence's words; otherwise (a stale snapshot) the first occurrence of the words is used.
 */
export function locateEvidence(text, evidence) {
  const points = Array.from(text);
  const start = Number(evidence.start);
  const end = Number(evidence.end);
  if (Number.isInteger(start) && Number.isInteger(end) && end > start && end <= points.length) {
    if (typeof evidence.text !== "string" || points.slice(start, end).join("") === evidence.text) {
      return { start, end };
    }
  }
  if (typeof evidence.text === "string" && evidence.text) {
    const unit = text.indexOf(evidence.text);
    if (unit >= 0) {
      const from = Array.from(text.slice(0, unit)).length;
      return { start: from, end: from + Array.from(evidence.text).length };
    }
  }
  return null;
}

/** The Cognito hosted UI's authorize URL (authorization code + PKCE S256). */
export function authorizeUrl({ domain, clientId, redirectUri, scopes, state, codeChallenge }) {
  const url = new URL("/oauth2/authorize", domain);
  url.search = new URLSearchParams({
    response_type: "code",
    client_id: clientId,
    redirect_uri: redirectUri,
    scope: (scopes || ["openid"]).join(" "),
    state,
    code_challenge: codeChallenge,
    code_challenge_method: "S256",
  }).toString();
  return url.toString();
}

/** The token request that exchanges an authorization code (POST, form-encoded). */
export function tokenRequest({ domain, clientId, redirectUri, code, codeVerifier }) {
  return {
    url: new URL("/oauth2/token", domain).toString(),
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      client_id: clientId,
      code,
      redirect_uri: redirectUri,
      code_verifier: codeVerifier,
    }).toString(),
  };
}

/** A JWT's expiry in ms since the epoch, or null when the token is not a JWT (a local token). */
export function tokenExpiry(token) {
  const parts = String(token).split(".");
  if (parts.length !== 3) return null;
  try {
    const json = atob(parts[1].replaceAll("-", "+").replaceAll("_", "/").padEnd(Math.ceil(parts[1].length / 4) * 4, "="));
    const exp = JSON.parse(json).exp;
    return typeof exp === "number" ? exp * 1000 : null;
  } catch {
    return null;
  }
}

/** The decisions query string of a filter set (empty values left out). */
export function decisionsQuery(filters, cursor) {
  const params = new URLSearchParams();
  for (const name of ["marketplace", "decision", "review_status", "category"]) {
    if (filters[name]) params.set(name, filters[name]);
  }
  if (filters.since) params.set("since", localDayStart(filters.since, 0));
  if (filters.until) params.set("until", localDayStart(filters.until, 1)); // the "until" day is included
  if (filters.limit) params.set("limit", String(filters.limit));
  if (cursor) params.set("cursor", cursor);
  return params.toString();
}

/** ISO 8601 instant of local midnight of a "YYYY-MM-DD" date, plus `days`. */
export function localDayStart(date, days) {
  const [year, month, day] = date.split("-").map(Number);
  return new Date(year, month - 1, day + days).toISOString();
}

function base64url(bytes) {
  let binary = "";
  for (const byte of new Uint8Array(bytes)) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

// ---------------------------------------------------------------------------------------------------------------
// DOM helpers
// ---------------------------------------------------------------------------------------------------------------

const $ = (id) => document.getElementById(id);

/** An element with text content only (never HTML). */
function el(tag, text, attrs = {}) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  for (const [name, value] of Object.entries(attrs)) {
    if (value !== undefined && value !== null && value !== false) node.setAttribute(name, value === true ? "" : value);
  }
  return node;
}

function formatTime(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
}

function timeElement(iso) {
  const node = el("time", formatTime(iso));
  if (iso) node.dateTime = iso;
  return node;
}

function shortCategory(category) {
  return String(category).replace(/^STATEMENT_CATEGORY_/, "").replaceAll("_", " ").toLowerCase();
}

function setStatus(message, kind = "info") {
  const status = $("status");
  status.dataset.kind = kind;
  status.replaceChildren();
  if (message) status.append(el("p", message));
}

function showProblem(error) {
  const status = $("status");
  status.dataset.kind = "error";
  status.replaceChildren(el("p", error.message || String(error)));
  if (error.problem && Array.isArray(error.problem.errors) && error.problem.errors.length) {
    const list = el("ul");
    for (const item of error.problem.errors) {
      list.append(el("li", item.pointer ? `${item.pointer}: ${item.detail}` : item.detail));
    }
    status.append(list);
  }
}

function setBusy(form, busy) {
  for (const control of form.querySelectorAll("button, input, select, textarea")) control.disabled = busy;
}

// ---------------------------------------------------------------------------------------------------------------
// State, API and authentication
// ---------------------------------------------------------------------------------------------------------------

const BASE = location.pathname.replace(/\/console(\/.*)?$/, ""); // "" unless served under a path prefix

const state = {
  config: { auth: "token" },
  me: null,
  filters: { review_status: "pending", limit: 50 },
  pages: [null], // cursors of the pages walked through; the last one is shown
  nextCursor: null,
  detail: null,
  items: [],
};

class ApiError extends Error {
  constructor(message, status, problem) {
    super(message);
    this.status = status;
    this.problem = problem;
  }
}

class SignedOut extends Error {}

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

async function api(path, { method = "GET", body } = {}) {
  const headers = { accept: "application/json, application/problem+json", authorization: `Bearer ${token()}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  let response;
  try {
    response = await fetch(BASE + path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: "no-store",
    });
  } catch (error) {
    throw new ApiError(`The API could not be reached (${error.message}).`, 0, null);
  }
  const text = await response.text();
  let payload = null;
  try {
    payload = text ? JSON.parse(text) : null;
  } catch {
    payload = null;
  }
  if (response.status === 401) {
    const why = (payload && payload.detail) || "the token was refused or has expired";
    signOut(`You are signed out: ${why}. Sign in again.`);
    throw new SignedOut();
  }
  if (!response.ok) {
    const message = (payload && (payload.detail || payload.title)) || `HTTP ${response.status}`;
    throw new ApiError(message, response.status, payload);
  }
  return payload;
}

/** Run an action; show its failure in the live region (sign-outs have already been handled). */
async function attempt(action) {
  try {
    return await action();
  } catch (error) {
    if (!(error instanceof SignedOut)) showProblem(error);
    return undefined;
  }
}

function showSignIn(message) {
  $("loading").hidden = true;
  $("workspace").hidden = true;
  $("who").hidden = true;
  $("sign-out").hidden = true;
  $("sign-in").hidden = false;
  const cognito = state.config.auth === "cognito";
  $("token-form").hidden = cognito;
  $("cognito-sign-in").hidden = !cognito;
  if (message) setStatus(message, "error");
  (cognito ? $("cognito-button") : $("token")).focus();
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(MARKETPLACE_KEY);
  state.me = null;
  state.detail = null;
  $("token").value = "";
  showSignIn(message);
}

async function startCognitoSignIn() {
  const { domain, client_id: clientId, scopes } = state.config;
  const verifier = base64url(crypto.getRandomValues(new Uint8Array(32)));
  const challenge = base64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  const stateValue = base64url(crypto.getRandomValues(new Uint8Array(16)));
  sessionStorage.setItem(PKCE_KEY, JSON.stringify({ state: stateValue, verifier }));
  location.assign(authorizeUrl({
    domain, clientId, redirectUri: redirectUri(), scopes, state: stateValue, codeChallenge: challenge,
  }));
}

function redirectUri() {
  return location.origin + BASE + "/console";
}

/** Back from the hosted UI with ?code=&state= (or ?error=): exchange the code for tokens, keep the id_token. */
async function finishCognitoSignIn() {
  const params = new URLSearchParams(location.search);
  if (!params.has("code") && !params.has("error")) return;
  const saved = JSON.parse(sessionStorage.getItem(PKCE_KEY) || "null");
  sessionStorage.removeItem(PKCE_KEY);
  history.replaceState(null, "", location.pathname + location.hash); // the code is single-use: drop it
  if (params.has("error")) {
    throw new ApiError(`Sign-in failed: ${params.get("error_description") || params.get("error")}`, 0, null);
  }
  if (!saved || saved.state !== params.get("state")) {
    throw new ApiError("Sign-in failed: the answer did not match this browser's request. Try again.", 0, null);
  }
  const request = tokenRequest({
    domain: state.config.domain, clientId: state.config.client_id, redirectUri: redirectUri(),
    code: params.get("code"), codeVerifier: saved.verifier,
  });
  const response = await fetch(request.url, { method: request.method, headers: request.headers, body: request.body });
  const tokens = await response.json().catch(() => ({}));
  if (!response.ok || !tokens.id_token) {
    throw new ApiError(`Sign-in failed: ${tokens.error_description || tokens.error || `HTTP ${response.status}`}`, 0, null);
  }
  sessionStorage.setItem(TOKEN_KEY, tokens.id_token);
}

async function enterWorkspace() {
  const me = await api("/v1/me");
  state.me = me;
  $("loading").hidden = true;
  $("sign-in").hidden = true;
  $("workspace").hidden = false;
  $("who").hidden = false;
  $("sign-out").hidden = false;
  const marketplaces = Array.isArray(me.marketplaces) ? me.marketplaces : [];
  $("who").textContent = `Signed in as ${me.operator}` + (marketplaces.length ? ` (${marketplaces.join(", ")})` : "");
  // The API lists one marketplace at a time (it requires the parameter when an operator has several).
  const select = $("f-marketplace");
  select.replaceChildren(...marketplaces.map((name) => el("option", name, { value: name })));
  const remembered = sessionStorage.getItem(MARKETPLACE_KEY);
  const chosen = [state.filters.marketplace, remembered].find((name) => name && marketplaces.includes(name));
  state.filters.marketplace = chosen || marketplaces[0] || "";
  select.value = state.filters.marketplace;
  await loadQueue();
  await route();
}

// ---------------------------------------------------------------------------------------------------------------
// The queue
// ---------------------------------------------------------------------------------------------------------------

function readFilters() {
  const form = new FormData($("filters"));
  const filters = {};
  for (const [name, value] of form.entries()) filters[name] = String(value);
  if (filters.marketplace) sessionStorage.setItem(MARKETPLACE_KEY, filters.marketplace);
  return filters;
}

function writeFilters(filters) {
  const form = $("filters");
  for (const control of form.elements) {
    if (control.name) control.value = filters[control.name] ?? (control.name === "limit" ? "50" : "");
  }
}

function syncViewButtons() {
  const queue = state.filters.review_status === "pending";
  $("view-queue").setAttribute("aria-pressed", String(queue));
  $("view-recent").setAttribute("aria-pressed", String(!queue));
  $("queue-heading").textContent = queue ? "Review queue" : "Decisions";
}

/** Load the queue at the user's request and announce the result in the live region. */
async function reloadQueue() {
  await loadQueue();
  const count = state.items.length;
  setStatus(`${count} ${count === 1 ? "item" : "items"} shown${state.nextCursor ? "; more on the next page" : ""}.`);
}

async function loadQueue() {
  const cursor = state.pages[state.pages.length - 1];
  const result = await api("/v1/decisions?" + decisionsQuery(state.filters, cursor));
  state.items = Array.isArray(result.items) ? result.items : [];
  state.nextCursor = result.next_cursor || null;
  renderQueue();
}

function renderQueue() {
  syncViewButtons();
  const rows = $("queue-rows");
  rows.replaceChildren();
  const queue = state.filters.review_status === "pending";
  const page = state.pages.length;
  $("queue-caption").textContent = (queue ? "Items awaiting review, oldest first" : "Decisions, newest first")
    + ` — ${state.items.length} shown` + (page > 1 ? `, page ${page}` : "");
  for (const item of state.items) {
    const tr = el("tr", null, { "data-decision-id": item.decision_id });
    const link = el("a", item.title || "(untitled)", { href: `#/decisions/${encodeURIComponent(item.decision_id)}` });
    if (state.detail && state.detail.decision_id === item.decision_id) link.setAttribute("aria-current", "true");
    const title = el("td");
    title.append(link, el("span", ` ${item.listing_id}`, { class: "muted" }));
    const decision = el("td");
    decision.append(badge(item.final_decision || item.decision));
    if (item.final_decision && item.final_decision !== item.decision) {
      decision.append(el("span", ` (automatic: ${item.decision})`, { class: "muted" }));
    }
    const categories = el("td", (item.categories || []).map(shortCategory).join(", "));
    const age = el("td", humanAge(item.age_seconds), { title: formatTime(item.decided_at) });
    const claim = el("td", item.claim ? item.claim.operator : "—");
    tr.append(title, el("td", item.marketplace), decision, categories, age, claim);
    // The whole row is a click target; the link in it is what the keyboard reaches (Enter opens it).
    tr.addEventListener("click", (event) => {
      if (!(event.target instanceof HTMLAnchorElement)) link.click();
    });
    rows.append(tr);
  }
  $("queue-table").hidden = state.items.length === 0;
  $("queue-empty").hidden = state.items.length !== 0;
  $("queue-empty").textContent = queue ? "The review queue is empty." : "No decisions match these filters.";
  $("next-page").hidden = !state.nextCursor;
  $("first-page").hidden = state.pages.length <= 1;
}

function badge(decision) {
  return el("span", decision || "—", { class: `badge badge-${decision || "none"}` });
}

// ---------------------------------------------------------------------------------------------------------------
// The decision detail
// ---------------------------------------------------------------------------------------------------------------

function decisionIdFromHash() {
  const match = /^#\/decisions\/([^/?#]+)$/.exec(location.hash);
  return match ? decodeURIComponent(match[1]) : null;
}

async function route() {
  const id = decisionIdFromHash();
  if (!id) {
    closeDetail(false);
    return;
  }
  if (!state.me) return;
  await attempt(async () => {
    const detail = await api(`/v1/decisions/${encodeURIComponent(id)}`);
    renderDetail(detail);
    $("detail-heading").focus();
  });
}

function closeDetail(updateUrl = true) {
  state.detail = null;
  $("detail").hidden = true;
  if (updateUrl && location.hash) history.pushState(null, "", location.pathname + location.search);
  for (const link of $("queue-rows").querySelectorAll("a[aria-current]")) link.removeAttribute("aria-current");
}

function addMeta(dl, term, value) {
  const dd = el("dd");
  if (value instanceof Node) dd.append(value);
  else dd.textContent = value === undefined || value === null || value === "" ? "—" : String(value);
  dl.append(el("dt", term), dd);
}

function renderDetail(detail) {
  const previous = state.detail && state.detail.decision_id;
  state.detail = detail;
  $("detail").hidden = false;
  $("detail-heading").textContent = detail.title || (detail.listing && detail.listing.title) || detail.decision_id;
  for (const link of $("queue-rows").querySelectorAll("a")) {
    const current = link.closest("tr").dataset.decisionId === detail.decision_id;
    if (current) link.setAttribute("aria-current", "true");
    else link.removeAttribute("aria-current");
  }

  const meta = $("detail-meta");
  meta.replaceChildren();
  addMeta(meta, "Decision ID", detail.decision_id);
  addMeta(meta, "Marketplace", detail.marketplace);
  addMeta(meta, "Listing ID", detail.listing_id);
  addMeta(meta, "Automatic decision", badge(detail.decision));
  addMeta(meta, "Final decision", badge(detail.final_decision));
  addMeta(meta, "Review status", detail.review_status || "not reviewed");
  addMeta(meta, "Categories", (detail.categories || []).join(", "));
  addMeta(meta, "Screened", timeElement(detail.decided_at));
  addMeta(meta, "Age", humanAge(detail.age_seconds));
  addMeta(meta, "Policy version", detail.policy_version);
  const classifier = detail.classifier || {};
  addMeta(meta, "Classifier", [classifier.status, classifier.model,
    classifier.latency_ms != null ? `${Math.round(classifier.latency_ms)} ms` : null, classifier.failure]
    .filter(Boolean).join(", "));
  addMeta(meta, "Reopened", detail.reopened ?? 0);
  addMeta(meta, "Revision", detail.revision);

  renderListing(detail);
  renderReasons(detail);
  renderActions(detail);
  renderStatement(detail, previous === detail.decision_id);
  renderAudit(detail);
  renderCallbacks(detail);
}

/** Evidence spans by field pointer, each with the reason it supports. */
function evidenceByField(reasons) {
  const byField = new Map();
  (reasons || []).forEach((reason, index) => {
    for (const evidence of reason.evidence || []) {
      if (!byField.has(evidence.field)) byField.set(evidence.field, []);
      byField.get(evidence.field).push({ evidence, reason, index });
    }
  });
  return byField;
}

/** `text` with its evidence spans in <mark>s (flat: overlapping spans never nest). */
function highlighted(text, hits) {
  const container = el("span", null, { class: "field-text" });
  const spans = [];
  for (const hit of hits || []) {
    const span = locateEvidence(text, hit.evidence);
    if (span) spans.push({ ...span, hit });
  }
  for (const segment of segmentText(text, spans)) {
    if (segment.spans.length === 0) {
      container.append(document.createTextNode(segment.text));
      continue;
    }
    const reasons = segment.spans.map((i) => spans[i].hit.reason);
    const mark = el("mark", segment.text, {
      title: [...new Set(reasons.map((reason) => `${reason.id} (${shortCategory(reason.category)})`))].join("; "),
    });
    if (new Set(segment.spans.map((i) => spans[i].hit.index)).size > 1) mark.classList.add("overlap");
    container.append(mark);
  }
  return container;
}

function renderListing(detail) {
  const listing = detail.listing || {};
  const hits = evidenceByField(detail.reasons);
  const dl = $("listing");
  dl.replaceChildren();
  const text = (term, pointer) => {
    const value = resolvePointer(listing, pointer);
    if (typeof value !== "string") return;
    const dd = el("dd");
    dd.append(highlighted(value, hits.get(pointer)));
    dl.append(el("dt", term), dd);
  };
  text("Title", "/title");
  text("Description", "/description");
  text("Category", "/category");
  const attributes = listing.attributes && typeof listing.attributes === "object" ? listing.attributes : {};
  for (const key of Object.keys(attributes)) {
    const pointer = attributePointer(key);
    if (typeof attributes[key] === "string") {
      const dd = el("dd");
      dd.append(highlighted(attributes[key], hits.get(pointer)));
      dl.append(el("dt", `Attribute: ${key}`), dd);
    } else {
      addMeta(dl, `Attribute: ${key}`, JSON.stringify(attributes[key]));
    }
  }
  if (listing.locale) addMeta(dl, "Locale", listing.locale);
  if (listing.price) addMeta(dl, "Price", `${listing.price.amount} ${listing.price.currency}`);
  if (listing.seller) {
    const seller = listing.seller;
    addMeta(dl, "Seller", [seller.id, seller.country,
      seller.account_age_days != null ? `account ${seller.account_age_days} days old` : null].filter(Boolean).join(", "));
  }
  if (listing.gtin) addMeta(dl, "GTIN", listing.gtin);
  if (Array.isArray(listing.image_urls) && listing.image_urls.length) {
    // Shown as text, never fetched: the console loads nothing chosen by a seller.
    const list = el("ul", null, { class: "urls" });
    for (const url of listing.image_urls) list.append(el("li", url));
    addMeta(dl, "Image URLs", list);
  }
  // Evidence pointing at a field not shown above (should not happen) is still listed with its reason.
}

function renderReasons(detail) {
  const list = $("reasons");
  list.replaceChildren();
  for (const reason of detail.reasons || []) {
    const item = el("li");
    const head = el("p");
    head.append(el("strong", reason.id), ` — ${reason.source}, ${shortCategory(reason.category)}, action ${reason.action}`);
    if (reason.score !== undefined && reason.score !== null) head.append(`, score ${Number(reason.score).toFixed(2)}`);
    item.append(head);
    if (reason.evidence && reason.evidence.length) {
      const evidence = el("ul", null, { class: "evidence" });
      for (const hit of reason.evidence) {
        const line = el("li");
        line.append(el("code", hit.field), " ", el("q", hit.text));
        evidence.append(line);
      }
      item.append(evidence);
    }
    list.append(item);
  }
  if (!list.children.length) list.append(el("li", "No reasons recorded."));
}

function activeClaim(detail) {
  const claim = detail.claim;
  if (!claim) return null;
  if (claim.expires_at && new Date(claim.expires_at).getTime() <= Date.now()) return null;
  return claim;
}

function renderActions(detail) {
  const me = state.me ? state.me.operator : null;
  const pending = detail.review_status === "pending";
  const claim = activeClaim(detail);
  const mine = claim && claim.operator === me;
  const stateLine = $("claim-state");
  stateLine.replaceChildren();
  if (pending) {
    if (!claim) stateLine.textContent = "Awaiting review. Not claimed.";
    else {
      stateLine.append(mine ? "Claimed by you until " : `Claimed by ${claim.operator} until `,
        timeElement(claim.expires_at), ".");
    }
  } else if (detail.verdict) {
    const verdict = detail.verdict;
    stateLine.append(`Decided: ${verdict.verdict} by ${verdict.operator} at `, timeElement(verdict.decided_at), ".");
    if (verdict.note) stateLine.append(el("br"), "Note: ", el("q", verdict.note));
  } else {
    stateLine.textContent = `Automatic decision (${detail.decision}); not reviewed by an operator.`;
  }
  $("claim").hidden = !pending || Boolean(claim);
  $("release").hidden = !pending || !mine;
  $("verdict-form").hidden = !pending || Boolean(claim && !mine);
  $("reopen-form").hidden = pending;
  for (const form of [$("verdict-form"), $("reopen-form")]) setBusy(form, false);
  if (previousDecisionChanged(detail)) {
    $("verdict-form").reset();
    $("reopen-form").reset();
  }
}

let lastRendered = null;
function previousDecisionChanged(detail) {
  const changed = lastRendered !== detail.decision_id;
  lastRendered = detail.decision_id;
  return changed;
}

function renderStatement(detail, same) {
  const link = detail.links && detail.links.statement_of_reasons;
  const show = detail.final_decision === "block" && Boolean(link);
  $("sor").hidden = !show;
  if (!same || !show) {
    $("sor-body").hidden = true;
    $("sor-body").textContent = "";
    const download = $("sor-download");
    if (download.href) URL.revokeObjectURL(download.href);
    download.removeAttribute("href");
    download.hidden = true;
  }
}

async function showStatement() {
  const detail = state.detail;
  const link = detail && detail.links && detail.links.statement_of_reasons;
  if (!link) return;
  await attempt(async () => {
    const statement = await api(link);
    const text = JSON.stringify(statement, null, 2);
    const pre = $("sor-body");
    pre.textContent = text;
    pre.hidden = false;
    const download = $("sor-download");
    if (download.href) URL.revokeObjectURL(download.href);
    download.href = URL.createObjectURL(new Blob([text], { type: "application/json" }));
    download.download = `statement-of-reasons-${detail.decision_id}.json`;
    download.hidden = false;
    setStatus("Statement of reasons loaded.");
  });
}

function stateSummary(snapshot) {
  if (!snapshot) return "—";
  const parts = [snapshot.final_decision, snapshot.review_status || "not reviewed"];
  if (snapshot.claim) parts.push(`claimed by ${snapshot.claim.operator}`);
  if (snapshot.verdict) parts.push(`verdict ${snapshot.verdict.verdict}`);
  parts.push(`rev ${snapshot.revision}`);
  return parts.join(", ");
}

function renderAudit(detail) {
  const rows = $("audit-rows");
  rows.replaceChildren();
  for (const entry of detail.audit || []) {
    const when = el("td");
    when.append(timeElement(entry.at));
    rows.append(row([when, el("td", entry.operator), el("td", entry.action), el("td", entry.note || ""),
      el("td", `${stateSummary(entry.before)} → ${stateSummary(entry.after)}`)]));
  }
  rows.closest("table").hidden = rows.children.length === 0;
  $("audit-empty").hidden = rows.children.length !== 0;
}

function renderCallbacks(detail) {
  const rows = $("callback-rows");
  rows.replaceChildren();
  for (const callback of detail.callbacks || []) {
    const delivered = el("td");
    if (callback.delivered_at) delivered.append(timeElement(callback.delivered_at));
    rows.append(row([el("td", callback.revision), el("td", callback.status), el("td", callback.attempts ?? 0),
      el("td", callback.last_error || ""), delivered]));
  }
  rows.closest("table").hidden = rows.children.length === 0;
  $("callbacks-empty").hidden = rows.children.length !== 0;
}

function row(cells) {
  const tr = el("tr");
  tr.append(...cells);
  return tr;
}

async function act(path, body, done) {
  const detail = state.detail;
  if (!detail) return;
  const id = encodeURIComponent(detail.decision_id);
  await attempt(async () => {
    const updated = await api(`/v1/decisions/${id}/${path}`, { method: "POST", body });
    $("verdict-form").reset();
    $("reopen-form").reset();
    renderDetail(updated);
    setStatus(done(updated));
    await loadQueue();
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Wiring
// ---------------------------------------------------------------------------------------------------------------

function wire() {
  $("token-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const value = $("token").value.trim();
    if (!value) return;
    sessionStorage.setItem(TOKEN_KEY, value);
    $("token").value = "";
    setStatus("Signing in…");
    if (await attempt(async () => { await enterWorkspace(); return true; })) setStatus("Signed in.");
  });
  $("cognito-button").addEventListener("click", () => attempt(startCognitoSignIn));
  $("sign-out").addEventListener("click", () => {
    signOut();
    setStatus("Signed out.");
  });

  $("filters").addEventListener("submit", async (event) => {
    event.preventDefault();
    state.filters = readFilters();
    state.pages = [null];
    await attempt(reloadQueue);
  });
  $("refresh").addEventListener("click", () => attempt(reloadQueue));
  const switchView = async (reviewStatus) => {
    state.filters = { ...readFilters(), review_status: reviewStatus };
    writeFilters(state.filters);
    state.pages = [null];
    await attempt(reloadQueue);
  };
  $("view-queue").addEventListener("click", () => switchView("pending"));
  $("view-recent").addEventListener("click", () => switchView(""));
  $("next-page").addEventListener("click", async () => {
    if (!state.nextCursor) return;
    state.pages.push(state.nextCursor);
    if ((await attempt(async () => { await reloadQueue(); return true; })) === undefined) state.pages.pop();
    else $("queue-heading").scrollIntoView();
  });
  $("first-page").addEventListener("click", async () => {
    state.pages = [null];
    await attempt(reloadQueue);
  });

  $("close-detail").addEventListener("click", () => {
    const id = state.detail && state.detail.decision_id;
    closeDetail();
    const link = id && $("queue-rows").querySelector(`tr[data-decision-id="${CSS.escape(id)}"] a`);
    if (link) link.focus();
  });
  $("claim").addEventListener("click", async () => {
    await act("claim", undefined, () => "Claimed. You can now record a verdict.");
    const first = $("verdict-form").querySelector("input[name=verdict]");
    if (!$("verdict-form").hidden && first) first.focus();
  });
  $("release").addEventListener("click", async () => {
    await act("release", undefined, () => "Released.");
    if (!$("claim").hidden) $("claim").focus();
  });
  $("detail").addEventListener("keydown", (event) => {
    // Not while typing or choosing in a list: there Escape belongs to the control.
    const typing = event.target instanceof Element
      && event.target.matches("textarea, select, input:not([type=radio]):not([type=checkbox])");
    if (event.key === "Escape" && !event.defaultPrevented && !typing) $("close-detail").click();
  });
  $("verdict-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const data = new FormData(form);
    const verdict = data.get("verdict");
    if (!verdict) {
      setStatus("Choose allow or block.", "error");
      return;
    }
    const note = String(data.get("note") || "").trim();
    setBusy(form, true);
    await act("review", note ? { verdict, note } : { verdict },
      (updated) => `Verdict ${verdict} recorded for “${updated.title || updated.listing_id}”.`);
    setBusy(form, false);
    $("detail-heading").focus();
  });
  $("reopen-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const reason = String(new FormData(form).get("reason") || "").trim();
    if (!reason) {
      setStatus("Give a reason for reopening.", "error");
      return;
    }
    setBusy(form, true);
    await act("reopen", { reason }, () => "Reopened: the item is back in the review queue.");
    setBusy(form, false);
    $("detail-heading").focus();
  });
  $("sor-show").addEventListener("click", showStatement);
  window.addEventListener("hashchange", () => route());
  window.addEventListener("popstate", () => route());

  const categories = $("f-category");
  for (const category of CATEGORIES) categories.append(el("option", shortCategory(category), { value: category }));
}

async function start() {
  wire();
  try {
    const response = await fetch(BASE + "/console/config.json", { cache: "no-store" });
    if (response.ok) state.config = await response.json();
  } catch {
    // no config: local token sign-in
  }
  if (state.config.auth === "cognito") {
    try {
      await finishCognitoSignIn();
    } catch (error) {
      showSignIn();
      showProblem(error);
      return;
    }
  }
  const current = token();
  const expiry = current ? tokenExpiry(current) : null;
  if (!current || (expiry !== null && expiry <= Date.now())) {
    sessionStorage.removeItem(TOKEN_KEY);
    showSignIn(current ? "Your session has expired. Sign in again." : undefined);
    return;
  }
  await attempt(enterWorkspace);
}

if (typeof document !== "undefined" && document.getElementById("main")) start();
