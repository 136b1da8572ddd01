// simvec console: plain JavaScript, no framework and no build step.
// Every piece of text from the API reaches the page through text nodes (h() below never parses HTML),
// so document text and metadata always render as text, whatever they contain.
"use strict";

const KEY_STORAGE = "simvec.apiKey"; // sessionStorage: this tab only, never a cookie or the URL
const MODES = ["dense", "keyword", "hybrid"];
const OPERATORS = [
  ["$eq", "="], ["$ne", "≠"], ["$gt", ">"], ["$gte", "≥"], ["$lt", "<"], ["$lte", "≤"], ["$in", "in"], ["$nin", "not in"],
];
const PALETTE = [
  "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948",
  "#b07aa1", "#ff9da7", "#9c755f", "#79706e", "#1f77b4", "#8cd17d",
];
const OTHER_COLOUR = "#c3c7cf";
const STOPWORDS = new Set(
  "a an and are as at be by can do does for from has have how i in is it its my of on or the this to was what when where which who why will with you".split(" "),
);

// ---- DOM helpers ------------------------------------------------------------------------------------

/** Build an element; string children become text nodes (never HTML). */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (value === true) el.setAttribute(name, "");
    else el.setAttribute(name, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

const SVG_NS = "http://www.w3.org/2000/svg";
function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, String(value));
  }
  return append(el, children);
}

const main = () => document.getElementById("main");

/** Replace an element's children (arrays are flattened; strings become text nodes). */
function fill(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

function show(...children) {
  fill(main(), ...children);
}

function statusLine(text) {
  return h("p", { class: "status loading", role: "status" }, text);
}

function errorBox(err) {
  const box = h("div", { class: "error", role: "alert" });
  if (err && err.status) box.append(h("strong", {}, `Error ${err.status}:`), " ");
  box.append(document.createTextNode(err && err.message ? err.message : String(err)));
  if (err && err.status === 401) {
    box.append(" ", h("button", { type: "button", class: "small ghost", onclick: () => askForKey("").then(render, () => {}) }, "Enter API key"));
  }
  return box;
}

function formatBytes(n) {
  if (n === null || n === undefined) return "—";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  let v = Number(n);
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i += 1; }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

const formatScore = (x) => (typeof x === "number" ? x.toFixed(4) : "—");
const formatValue = (v) => (typeof v === "string" ? v : JSON.stringify(v));

// ---- the API: fetch with the tab's key, a prompt on 401 -----------------------------------------------

class ApiError extends Error {
  constructor(status, message, kind) {
    super(message);
    this.status = status;
    this.kind = kind;
  }
}

let keyPrompt = null; // one prompt shared by every request that got a 401 at the same time

function askForKey(message) {
  if (keyPrompt) return keyPrompt;
  const dialog = document.getElementById("key-dialog");
  const input = document.getElementById("key-input");
  document.getElementById("key-message").textContent = message;
  input.value = "";
  keyPrompt = new Promise((resolve, reject) => {
    const form = document.getElementById("key-form");
    const cancel = document.getElementById("key-cancel");
    const done = (key) => {
      form.removeEventListener("submit", onSubmit);
      cancel.removeEventListener("click", onCancel);
      dialog.removeEventListener("cancel", onCancel);
      if (dialog.open) dialog.close();
      keyPrompt = null;
      if (key) {
        sessionStorage.setItem(KEY_STORAGE, key);
        updateKeyButton(true);
        resolve(key);
      } else {
        reject(new ApiError(401, message || "an API key is required", "authentication_error"));
      }
    };
    const onSubmit = (event) => { event.preventDefault(); done(input.value.trim()); };
    const onCancel = (event) => { event.preventDefault(); done(null); };
    form.addEventListener("submit", onSubmit);
    cancel.addEventListener("click", onCancel);
    dialog.addEventListener("cancel", onCancel);
  });
  dialog.showModal();
  input.focus();
  return keyPrompt;
}

function updateKeyButton(needed) {
  const button = document.getElementById("key-button");
  if (needed) button.hidden = false;
  button.textContent = sessionStorage.getItem(KEY_STORAGE) ? "Change API key" : "API key";
}

async function api(method, path, body) {
  for (;;) {
    const headers = { Accept: "application/json" };
    const key = sessionStorage.getItem(KEY_STORAGE);
    if (key) headers.Authorization = `Bearer ${key}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: "omit" });
    } catch (err) {
      throw new ApiError(0, `cannot reach the simvec server (${err.message})`, "network_error");
    }
    let payload = null;
    try {
      payload = await response.json();
    } catch (err) {
      payload = null;
    }
    if (response.ok) return payload;
    const message = payload && payload.error && payload.error.message ? payload.error.message : `${response.status} ${response.statusText}`;
    const kind = payload && payload.error ? payload.error.type : "";
    if (response.status === 401) {
      const hint = key ? `The key was refused: ${message}` : message;
      await askForKey(hint); // rejects when the user cancels: the caller shows the 401
      continue;
    }
    throw new ApiError(response.status, message, kind);
  }
}

// ---- routing: the page state lives in the URL ------------------------------------------------------

let renderToken = 0;

function navigate(url, replace) {
  const target = new URL(url, location.origin);
  if (target.pathname + target.search === location.pathname + location.search) return render();
  if (replace) history.replaceState(null, "", target);
  else history.pushState(null, "", target);
  return render();
}

function section(pathname) {
  if (pathname === "/" || pathname === "/ui" || pathname === "/ui/") return "collections";
  if (pathname.startsWith("/ui/collections/")) return "collection";
  return pathname.replace(/^\/ui\//, "").replace(/\/$/, "");
}

async function render() {
  const token = ++renderToken;
  const params = new URLSearchParams(location.search);
  const where = section(location.pathname);
  for (const link of document.querySelectorAll("nav a[data-section]")) {
    const current = link.dataset.section === where || (where === "collection" && link.dataset.section === "collections");
    if (current) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const pages = { collections: collectionsPage, collection: collectionPage, search: searchPage, compare: comparePage, similarity: similarityPage, map: mapPage };
  const page = pages[where];
  if (!page) {
    document.title = "Not found · simvec";
    show(h("h1", {}, "Page not found"), h("p", {}, "There is no console page at ", h("code", {}, location.pathname), ". ", h("a", { href: "/ui" }, "Back to the collections")));
    return;
  }
  try {
    await page(params, () => token === renderToken);
  } catch (err) {
    if (token === renderToken) show(h("h1", {}, err && err.status === 401 ? "API key required" : "Something went wrong"), errorBox(err));
  }
}

document.addEventListener("click", (event) => {
  const link = event.target.closest("a[href]");
  if (!link || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || link.target) return;
  const url = new URL(link.href, location.origin);
  if (url.origin !== location.origin || !(url.pathname === "/" || url.pathname.startsWith("/ui"))) return;
  event.preventDefault();
  navigate(url).then(() => main().focus({ preventScroll: true }));
});
window.addEventListener("popstate", () => render());

async function loadCollections() {
  return (await api("GET", "/v1/collections")).collections;
}

function collectionSelect(names, selected, attrs) {
  return h("select", attrs, names.map((n) => h("option", { value: n, selected: n === selected }, n)));
}

function collectionLink(name) {
  return h("a", { href: `/ui/collections/${encodeURIComponent(name)}` }, name);
}

// ---- collections ------------------------------------------------------------------------------------

async function collectionsPage(params, current) {
  document.title = "Collections · simvec";
  show(h("h1", {}, "Collections"), statusLine("Loading collections…"));
  const collections = await loadCollections();
  if (!current()) return;
  const heading = h("h1", {}, "Collections");
  const lede = h("p", { class: "lede" }, `${collections.length} collection${collections.length === 1 ? "" : "s"} served from this server's directory.`);
  if (!collections.length) {
    show(heading, h("p", { class: "empty" }, "No collections yet. Create one with ", h("code", {}, "simvec collection create DIR/NAME"), " or ", h("code", {}, "POST /v1/collections"), ", then reload."));
    return;
  }
  const rows = collections.map((c) => h("tr", { dataset: { collection: c.name } },
    h("th", { scope: "row" }, collectionLink(c.name)),
    h("td", { class: "num" }, c.count.toLocaleString("en")),
    h("td", { class: "mono model", title: c.model }, c.model.split("/").pop()),
    h("td", { class: "num" }, c.dimension),
    h("td", {}, c.index_kind || c.index),
    h("td", {}, c.compression || "none"),
    h("td", { class: "num" }, formatBytes(c.ram_bytes)),
    h("td", { class: "num" }, formatBytes(c.bytes_on_disk)),
    h("td", { class: "actions" }, h("a", { href: `/ui/search?collection=${encodeURIComponent(c.name)}` }, "Search"), " · ", h("a", { href: `/ui/map?collection=${encodeURIComponent(c.name)}` }, "Map")),
  ));
  const table = h("div", { class: "table-wrap" }, h("table", {},
    h("caption", { class: "visually-hidden" }, "Served collections"),
    h("thead", {}, h("tr", {}, ["Name", "Documents", "Model", "Dim", "Index", "Compression", "RAM", "On disk", ""].map((t, i) => h("th", { scope: "col", class: [1, 3, 6, 7].includes(i) ? "num" : null }, t)))),
    h("tbody", {}, rows),
  ));
  show(heading, lede, table);
}

async function collectionPage(params, current) {
  const name = decodeURIComponent(location.pathname.slice("/ui/collections/".length));
  const offset = Math.max(0, parseInt(params.get("offset") || "0", 10) || 0);
  const limit = 20;
  document.title = `${name} · simvec`;
  show(h("h1", {}, name), statusLine("Loading the collection…"));
  const enc = encodeURIComponent(name);
  const [info, page] = await Promise.all([
    api("GET", `/v1/collections/${enc}`),
    api("GET", `/v1/collections/${enc}/documents?limit=${limit}&offset=${offset}`),
  ]);
  if (!current()) return;
  const shown = ["count", "model", "encoder", "dimension", "metric", "index", "index_kind", "compression", "ram_bytes_per_vector", "ram_bytes", "rescore_bytes_per_vector", "rescore_bytes_on_disk", "bytes_on_disk", "generation"];
  const keys = shown.filter((k) => k in info).concat(Object.keys(info).filter((k) => !shown.includes(k) && k !== "name"));
  const settings = h("dl", { class: "settings" }, keys.map((k) => [
    h("dt", {}, k.replaceAll("_", " ")),
    h("dd", {}, settingText(k, info[k])),
  ]));
  const docs = page.documents.length
    ? h("div", { class: "table-wrap" }, h("table", { class: "documents" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Id"), h("th", { scope: "col" }, "Text"), h("th", { scope: "col" }, "Metadata"))),
      h("tbody", {}, page.documents.map((d) => h("tr", { dataset: { id: d.id } },
        h("td", { class: "mono" }, d.id),
        h("td", { class: "doc-text" }, d.text === null ? h("em", {}, "(no text)") : d.text),
        h("td", {}, metadataList(d.metadata)),
      ))),
    ))
    : h("p", { class: "empty" }, "No documents on this page.");
  const pager = h("div", { class: "links" },
    offset > 0 ? h("a", { class: "pill-link", href: `?offset=${Math.max(0, offset - limit)}` }, "← Previous") : null,
    h("span", { class: "status" }, page.count ? `Documents ${offset + 1}–${Math.min(offset + limit, page.count)} of ${page.count.toLocaleString("en")}` : "Empty collection"),
    offset + limit < page.count ? h("a", { class: "pill-link", href: `?offset=${offset + limit}` }, "Next →") : null,
  );
  show(
    h("p", { class: "status" }, h("a", { href: "/ui" }, "Collections"), " / ", name),
    h("h1", {}, name),
    h("div", { class: "links" },
      h("a", { class: "pill-link", href: `/ui/search?collection=${enc}` }, "Search it"),
      h("a", { class: "pill-link", href: `/ui/compare?collection=${enc}&collection2=${enc}&mode=dense&mode2=hybrid` }, "Compare modes"),
      h("a", { class: "pill-link", href: `/ui/map?collection=${enc}` }, "Map and trade-offs"),
    ),
    h("section", { class: "panel", "aria-labelledby": "settings-title" }, h("h2", { id: "settings-title" }, "Settings"), settings),
    h("section", { "aria-labelledby": "sample-title" }, h("h2", { id: "sample-title" }, "Documents"), pager, docs),
  );
}

/** A collection setting as text: byte counts with their unit, nested settings as "key: value" pairs. */
function settingText(key, value) {
  if (/(^|_)bytes(_on_disk)?$/.test(key) && typeof value === "number") return `${formatBytes(value)} (${value.toLocaleString("en")} B)`;
  if (value && typeof value === "object" && !Array.isArray(value)) {
    return Object.entries(value).map(([k, v]) => `${k}: ${formatValue(v)}`).join(" · ");
  }
  return formatValue(value);
}

function metadataList(metadata) {
  const entries = Object.entries(metadata || {});
  if (!entries.length) return null;
  return h("ul", { class: "meta", "aria-label": "metadata" }, entries.map(([k, v]) => h("li", {}, `${k}: ${formatValue(v)}`)));
}

// ---- the filter editor: builds the API's filter JSON --------------------------------------------------

/** Parse one value typed in the editor: numbers, true/false/null and quoted strings as JSON, anything else as text. */
function parseValue(text) {
  const t = text.trim();
  if (/^(-?\d+(\.\d+)?([eE][+-]?\d+)?|true|false|null|".*")$/.test(t)) {
    try { return JSON.parse(t); } catch (err) { return t; }
  }
  return t;
}

function valueText(v) {
  if (Array.isArray(v)) return v.map(valueText).join(", ");
  if (typeof v === "string" && /^(-?\d+(\.\d+)?([eE][+-]?\d+)?|true|false|null)$/.test(v.trim())) return JSON.stringify(v);
  return typeof v === "string" ? v : JSON.stringify(v);
}

function conditionJson(field, op, raw) {
  const value = op === "$in" || op === "$nin" ? raw.split(",").map(parseValue).filter((v) => v !== "") : parseValue(raw);
  return op === "$eq" ? { [field]: value } : { [field]: { [op]: value } };
}

/** The editor's rows for a filter, or null when the filter needs the raw JSON view (nested logic, several operators). */
function filterRows(filter) {
  if (!filter || typeof filter !== "object" || Array.isArray(filter)) return null;
  let join = "$and";
  let parts = [filter];
  const keys = Object.keys(filter);
  if (keys.length === 1 && (keys[0] === "$and" || keys[0] === "$or")) {
    join = keys[0];
    parts = filter[join];
    if (!Array.isArray(parts)) return null;
  }
  const rows = [];
  for (const part of parts) {
    if (!part || typeof part !== "object" || Array.isArray(part)) return null;
    for (const [field, cond] of Object.entries(part)) {
      if (field.startsWith("$")) return null;
      if (cond && typeof cond === "object" && !Array.isArray(cond)) {
        const ops = Object.keys(cond);
        if (ops.length !== 1 || !OPERATORS.some(([op]) => op === ops[0])) return null;
        rows.push({ field, op: ops[0], value: valueText(cond[ops[0]]) });
      } else {
        rows.push({ field, op: "$eq", value: valueText(cond) });
      }
    }
  }
  return { join, rows };
}

function filterEditor(initialText) {
  let initial = null;
  let parseError = null;
  if (initialText) {
    try { initial = JSON.parse(initialText); } catch (err) { parseError = err; }
  }
  const structured = initial ? filterRows(initial) : { join: "$and", rows: [] };
  const conditions = h("div", { class: "conditions" });
  const join = h("select", { "aria-label": "Combine conditions", name: "join" }, h("option", { value: "$and" }, "all conditions ($and)"), h("option", { value: "$or" }, "any condition ($or)"));
  const rawToggle = h("input", { type: "checkbox", name: "raw" });
  const raw = h("textarea", { rows: 3, name: "filter-json", "aria-label": "Filter as JSON", placeholder: '{"year": {"$gte": 2020}}', hidden: true });
  const preview = h("p", { class: "filter-preview", "aria-live": "polite" });
  const addButton = h("button", { type: "button", class: "small ghost", onclick: () => { addRow({ field: "", op: "$eq", value: "" }); refresh(); conditions.lastChild.querySelector("input").focus(); } }, "+ Condition");

  function addRow(row) {
    const field = h("input", { type: "text", name: "filter-field", placeholder: "field", "aria-label": "Metadata field", value: row.field });
    const op = h("select", { name: "filter-op", "aria-label": "Operator" }, OPERATORS.map(([value, label]) => h("option", { value, selected: value === row.op }, label)));
    const value = h("input", { type: "text", name: "filter-value", placeholder: "value (a, b for in)", "aria-label": "Value", value: row.value });
    const remove = h("button", { type: "button", class: "small ghost", "aria-label": "Remove condition", onclick: () => { line.remove(); refresh(); } }, "×");
    const line = h("div", { class: "condition" }, field, op, value, remove);
    for (const el of [field, op, value]) el.addEventListener("input", refresh);
    conditions.append(line);
  }

  function fromRows() {
    const parts = [...conditions.children]
      .map((line) => [line.querySelector("[name=filter-field]").value.trim(), line.querySelector("[name=filter-op]").value, line.querySelector("[name=filter-value]").value])
      .filter(([field]) => field)
      .map(([field, op, value]) => conditionJson(field, op, value));
    if (!parts.length) return null;
    return parts.length === 1 ? parts[0] : { [join.value]: parts };
  }

  function refresh() {
    if (rawToggle.checked) { preview.textContent = ""; return; }
    const f = fromRows();
    preview.textContent = f ? `filter: ${JSON.stringify(f)}` : "";
  }

  rawToggle.addEventListener("change", () => {
    if (rawToggle.checked) {
      const f = fromRows();
      raw.value = f ? JSON.stringify(f, null, 1) : raw.value;
      raw.hidden = false;
      conditions.hidden = true;
      addButton.hidden = true;
      join.hidden = true;
    } else {
      let parsed = null;
      try { parsed = raw.value.trim() ? JSON.parse(raw.value) : null; } catch (err) { parsed = undefined; }
      const rows = parsed === null ? { join: "$and", rows: [] } : parsed === undefined ? null : filterRows(parsed);
      if (!rows) { rawToggle.checked = true; preview.textContent = "This filter cannot be shown as rows (nested or invalid JSON): edit it as JSON."; return; }
      conditions.replaceChildren();
      join.value = rows.join;
      rows.rows.forEach(addRow);
      raw.hidden = true;
      conditions.hidden = false;
      addButton.hidden = false;
      join.hidden = false;
    }
    refresh();
  });
  join.addEventListener("change", refresh);

  if (structured) {
    join.value = structured.join;
    structured.rows.forEach(addRow);
  } else {
    rawToggle.checked = true;
    raw.value = initialText;
    raw.hidden = false;
    conditions.hidden = true;
    addButton.hidden = true;
    join.hidden = true;
  }
  refresh();

  const element = h("fieldset", { class: "filter-editor" },
    h("legend", {}, "Filter"),
    conditions,
    h("div", { class: "filter-tools" }, addButton, join, h("label", {}, rawToggle, "Raw JSON")),
    raw,
    preview,
  );
  return {
    element,
    parseError,
    /** The filter as a JSON string ("" for none); throws on invalid raw JSON. */
    value() {
      if (rawToggle.checked) {
        const text = raw.value.trim();
        if (!text) return "";
        let parsed;
        try { parsed = JSON.parse(text); } catch (err) { throw new ApiError(0, `the filter is not valid JSON: ${err.message}`, "invalid_filter"); }
        return JSON.stringify(parsed);
      }
      const f = fromRows();
      return f ? JSON.stringify(f) : "";
    },
  };
}

// ---- search ----------------------------------------------------------------------------------------

function queryTerms(query) {
  const words = (query.toLowerCase().match(/[\p{L}\p{N}]+/gu) || []).filter((w) => w.length > 1 && !STOPWORDS.has(w));
  // A rough stand-in for the keyword index's Porter stemming: match words that start with the stem.
  return [...new Set(words.map((w) => (w.length > 4 ? w.replace(/(ies|ing|ed|es|s|y)$/, "") : w)))];
}

/** Text with the query's words wrapped in <mark>, built from text nodes only. */
function highlighted(text, terms) {
  const p = h("p", { class: "hit-text" });
  if (text === null || text === undefined) { p.append(h("em", {}, "(no text stored)")); return p; }
  if (!terms.length) { p.textContent = text; return p; }
  const escaped = terms.map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).sort((a, b) => b.length - a.length);
  const pattern = new RegExp(`(?<![\\p{L}\\p{N}])(?:${escaped.join("|")})[\\p{L}\\p{N}]*`, "giu");
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    if (match.index > last) p.append(document.createTextNode(text.slice(last, match.index)));
    p.append(h("mark", {}, match[0]));
    last = match.index + match[0].length;
  }
  if (last < text.length) p.append(document.createTextNode(text.slice(last)));
  return p;
}

function hitItem(hit, rank, terms, other) {
  const head = h("div", { class: "hit-head" },
    h("span", { class: "hit-id" }, hit.id),
    h("span", { class: "hit-score", title: "score" }, `score ${formatScore(hit.score)}`),
    typeof hit.relevance === "number" ? h("span", { class: "badge hit-relevance", title: "calibrated relevance: the probability this hit is relevant" }, `relevance ${(hit.relevance * 100).toFixed(0)}%`) : null,
  );
  let cls = "hit";
  if (other) {
    const there = other.get(hit.id);
    if (there !== undefined) {
      cls += " shared";
      head.append(h("span", { class: "badge shared" }, `shared · #${there} there`));
    } else {
      cls += " only";
      head.append(h("span", { class: "badge only" }, "only here"));
    }
  }
  return h("li", { class: cls, dataset: { id: hit.id, rank: String(rank) } },
    h("span", { class: "rank", "aria-label": `rank ${rank}` }, String(rank)),
    head,
    highlighted(hit.text, terms),
    metadataList(hit.metadata),
  );
}

async function runSearch(collection, q, mode, k, filterText) {
  const body = { query: q, k, mode };
  if (filterText) body.filter = JSON.parse(filterText);
  const started = performance.now();
  const result = await api("POST", `/v1/collections/${encodeURIComponent(collection)}/search`, body);
  return { hits: result.hits, ms: performance.now() - started };
}

function readSearchParams(params, names) {
  const k = Math.min(1000, Math.max(1, parseInt(params.get("k") || "10", 10) || 10));
  const mode = MODES.includes(params.get("mode")) ? params.get("mode") : "dense";
  const collection = names.includes(params.get("collection")) ? params.get("collection") : names[0];
  return { q: params.get("q") || "", k, mode, collection, filter: params.get("filter") || "" };
}

function modeSelect(name, selected, label) {
  return h("select", { name, "aria-label": label }, MODES.map((m) => h("option", { value: m, selected: m === selected }, m)));
}

/** The collection names for a search page titled `title`, or null (page left, or nothing to search: said on the page). */
async function searchableCollections(title, current) {
  document.title = `${title} · simvec`;
  show(h("h1", {}, title), statusLine("Loading collections…"));
  const names = (await loadCollections()).map((c) => c.name);
  if (!current()) return null;
  if (!names.length) { show(h("h1", {}, title), h("p", { class: "empty" }, "No collections to search yet.")); return null; }
  return names;
}

function queryInput(value) {
  return h("input", { type: "search", name: "q", id: "q", value, placeholder: "Ask something…", autocomplete: "off", required: true });
}

/** On submit: the form's `fields` and the editor's filter go into the URL of `path` (a bad filter is shown in `results`). */
function submitToUrl(form, editor, results, path, fields) {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    let filter;
    try { filter = editor.value(); } catch (err) { fill(results, errorBox(err)); return; }
    const data = new FormData(form);
    const next = new URLSearchParams(fields.map((field) => [field, data.get(field)]));
    if (filter) next.set("filter", filter);
    navigate(`${path}?${next}`);
  });
}

async function searchPage(params, current) {
  const names = await searchableCollections("Search", current);
  if (!names) return;
  const state = readSearchParams(params, names);
  const editor = filterEditor(state.filter);
  const query = queryInput(state.q);
  const results = h("section", { id: "results", "aria-live": "polite", "aria-label": "Results" });
  const form = h("form", { class: "query panel", role: "search" },
    h("div", { class: "row" },
      h("label", { class: "field grow" }, h("span", {}, "Query"), query),
      h("label", { class: "field" }, h("span", {}, "Collection"), collectionSelect(names, state.collection, { name: "collection" })),
      h("label", { class: "field" }, h("span", {}, "Mode"), modeSelect("mode", state.mode, "Mode")),
      h("label", { class: "field" }, h("span", {}, "k"), h("input", { type: "number", name: "k", min: 1, max: 1000, value: state.k })),
      h("button", { type: "submit" }, "Search"),
    ),
    editor.element,
  );
  submitToUrl(form, editor, results, "/ui/search", ["collection", "q", "mode", "k"]);
  show(h("h1", {}, "Search"), form, results);
  if (editor.parseError) results.append(errorBox(new ApiError(0, `the filter in the URL is not valid JSON: ${editor.parseError.message}`)));
  query.focus();
  if (!state.q) {
    results.append(h("p", { class: "status" }, "Type a query and press Enter. The URL keeps the search: share it or come back to it."));
    return;
  }
  fill(results, statusLine("Searching…"));
  try {
    const { hits, ms } = await runSearch(state.collection, state.q, state.mode, state.k, state.filter);
    if (!current()) return;
    const terms = queryTerms(state.q);
    fill(results, 
      h("p", { class: "summary" }, `${hits.length} hit${hits.length === 1 ? "" : "s"} · ${state.mode} · ${Math.round(ms)} ms`),
      hits.length ? h("ol", { class: "hits" }, hits.map((hit, i) => hitItem(hit, i + 1, terms))) : h("p", { class: "empty" }, "No documents match."),
    );
  } catch (err) {
    if (current()) fill(results, errorBox(err));
  }
}

// ---- side by side ----------------------------------------------------------------------------------

async function comparePage(params, current) {
  const names = await searchableCollections("Compare", current);
  if (!names) return;
  const left = readSearchParams(params, names);
  const right = {
    collection: names.includes(params.get("collection2")) ? params.get("collection2") : left.collection,
    mode: MODES.includes(params.get("mode2")) ? params.get("mode2") : "hybrid",
  };
  if (!params.get("mode")) left.mode = "dense";
  const editor = filterEditor(left.filter);
  const query = queryInput(left.q);
  const results = h("section", { id: "results", "aria-live": "polite", "aria-label": "Results side by side" });
  const form = h("form", { class: "query panel", role: "search" },
    h("div", { class: "row" },
      h("label", { class: "field grow" }, h("span", {}, "Query"), query),
      h("label", { class: "field" }, h("span", {}, "k"), h("input", { type: "number", name: "k", min: 1, max: 1000, value: left.k })),
      h("button", { type: "submit" }, "Compare"),
    ),
    h("div", { class: "pane-config" },
      h("fieldset", {}, h("legend", {}, "Left"), h("div", { class: "row" },
        h("label", { class: "field" }, h("span", {}, "Collection"), collectionSelect(names, left.collection, { name: "collection" })),
        h("label", { class: "field" }, h("span", {}, "Mode"), modeSelect("mode", left.mode, "Left mode")))),
      h("fieldset", {}, h("legend", {}, "Right"), h("div", { class: "row" },
        h("label", { class: "field" }, h("span", {}, "Collection"), collectionSelect(names, right.collection, { name: "collection2" })),
        h("label", { class: "field" }, h("span", {}, "Mode"), modeSelect("mode2", right.mode, "Right mode")))),
    ),
    editor.element,
  );
  submitToUrl(form, editor, results, "/ui/compare", ["q", "k", "collection", "mode", "collection2", "mode2"]);
  show(h("h1", {}, "Compare"), h("p", { class: "lede" }, "Two searches side by side — two modes, or a float32 collection against a compressed copy. Hits found by both are marked."), form, results);
  query.focus();
  if (!left.q) {
    results.append(h("p", { class: "status" }, "Type a query and press Enter."));
    return;
  }
  fill(results, statusLine("Searching both sides…"));
  const settled = await Promise.allSettled([
    runSearch(left.collection, left.q, left.mode, left.k, left.filter),
    runSearch(right.collection, left.q, right.mode, left.k, left.filter),
  ]);
  if (!current()) return;
  const ranks = settled.map((r) => (r.status === "fulfilled" ? new Map(r.value.hits.map((hit, i) => [hit.id, i + 1])) : new Map()));
  const both = settled.every((r) => r.status === "fulfilled");
  const shared = both ? [...ranks[0].keys()].filter((id) => ranks[1].has(id)).length : 0;
  const terms = queryTerms(left.q);
  const column = (r, i, side, cfg) => {
    const title = h("h2", {}, `${side}: ${cfg.collection} · ${cfg.mode}`);
    if (r.status === "rejected") return h("section", { class: "pane", dataset: { side: side.toLowerCase() } }, title, errorBox(r.reason));
    const other = both ? ranks[1 - i] : null;
    const hits = r.value.hits;
    const only = hits.filter((hit) => other && !other.has(hit.id)).length;
    return h("section", { class: "pane", dataset: { side: side.toLowerCase() } },
      title,
      h("p", { class: "summary" }, `${hits.length} hits · ${Math.round(r.value.ms)} ms${other ? ` · ${only} only here` : ""}`),
      hits.length ? h("ol", { class: "hits" }, hits.map((hit, j) => hitItem(hit, j + 1, terms, other))) : h("p", { class: "empty" }, "No documents match."),
    );
  };
  fill(results, 
    both ? h("p", { class: "summary compare-summary" }, `${shared} of ${Math.max(ranks[0].size, ranks[1].size)} hits shared; left adds ${ranks[0].size - shared}, right adds ${ranks[1].size - shared}.`) : null,
    h("div", { class: "legend-row" }, h("span", {}, h("span", { class: "badge shared" }, "shared"), " found by both"), h("span", {}, h("span", { class: "badge only" }, "only here"), " what this side adds")),
    h("div", { class: "compare-grid" }, column(settled[0], 0, "Left", left), column(settled[1], 1, "Right", right)),
  );
}

// ---- similarity playground -------------------------------------------------------------------------

const EXAMPLE_TEXTS = ["A man is playing a guitar.", "Someone plays the guitar.", "A woman is slicing an onion.", "The stock market fell sharply today."];

/** A colour for a similarity in [-1, 1]: white at 0, deepening blue towards 1, red towards -1. */
function heatColour(value) {
  const v = Math.max(-1, Math.min(1, value));
  const [r, g, b] = v >= 0 ? [Math.round(255 - 218 * v), Math.round(255 - 170 * v), Math.round(255 - 55 * v)] : [Math.round(255 + 20 * v), Math.round(255 + 170 * v), Math.round(255 + 170 * v)];
  return { background: `rgb(${r}, ${g}, ${b})`, ink: v > 0.55 ? "#ffffff" : "#1b1f24" };
}

async function similarityPage(params, current) {
  document.title = "Similarity · simvec";
  const texts = params.getAll("text").filter((t) => t.trim());
  const metric = ["cosine", "dot", "euclidean", "manhattan"].includes(params.get("metric")) ? params.get("metric") : "cosine";
  const area = h("textarea", { id: "texts", name: "texts", rows: 6, "aria-describedby": "texts-hint" }, (texts.length ? texts : EXAMPLE_TEXTS).join("\n"));
  const results = h("section", { id: "results", "aria-live": "polite", "aria-label": "Similarity matrix" });
  const form = h("form", { class: "query panel" },
    h("label", { class: "field", for: "texts" }, h("span", {}, "Texts, one per line")),
    area,
    h("p", { class: "hint", id: "texts-hint" }, "Ctrl+Enter or the button compares every text with every other."),
    h("div", { class: "row" },
      h("label", { class: "field" }, h("span", {}, "Metric"), h("select", { name: "metric" }, ["cosine", "dot", "euclidean", "manhattan"].map((m) => h("option", { value: m, selected: m === metric }, m)))),
      h("button", { type: "submit" }, "Compare texts"),
    ),
  );
  area.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) { event.preventDefault(); form.requestSubmit(); }
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const lines = area.value.split("\n").map((t) => t.trim()).filter(Boolean);
    const next = new URLSearchParams(lines.map((t) => ["text", t]));
    next.set("metric", new FormData(form).get("metric"));
    navigate(`/ui/similarity?${next}`);
  });
  show(h("h1", {}, "Similarity playground"), h("p", { class: "lede" }, "See how the served model scores every pair of texts."), form, results);
  if (texts.length < 2) {
    results.append(h("p", { class: "status" }, "Enter at least two texts."));
    return;
  }
  fill(results, statusLine("Embedding…"));
  try {
    const result = await api("POST", "/v1/similarity", { texts, metric });
    if (!current()) return;
    const bounded = metric === "cosine";
    const values = result.matrix.flat();
    const lo = Math.min(...values);
    const hi = Math.max(...values);
    const scaled = (v) => (bounded ? v : hi === lo ? 0 : (v - lo) / (hi - lo)); // non-cosine metrics: colour by rank within the matrix
    const table = h("table", { class: "heatmap" },
      h("caption", { class: "status" }, `${metric} similarity · ${result.model}`),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Text"), texts.map((t, j) => h("th", { scope: "col", class: "col-label", title: t }, `#${j + 1}`)))),
      h("tbody", {}, result.matrix.map((row, i) => h("tr", {},
        h("th", { scope: "row", class: "text-label" }, `#${i + 1} `, texts[i]),
        row.map((v, j) => {
          const colour = heatColour(scaled(v));
          const cell = h("td", { class: "cell", dataset: { row: String(i), col: String(j), value: String(v) }, title: `#${i + 1} vs #${j + 1}: ${v.toFixed(4)}` }, v.toFixed(2));
          cell.style.background = colour.background;
          cell.style.color = colour.ink;
          return cell;
        }),
      ))),
    );
    const bar = h("span", { class: "scale-bar" });
    bar.style.background = `linear-gradient(to right, ${heatColour(-1).background}, ${heatColour(0).background}, ${heatColour(1).background})`;
    fill(results, 
      h("div", { class: "table-wrap" }, table),
      h("div", { class: "scale" }, bounded ? "-1" : formatScore(lo), bar, bounded ? "1" : formatScore(hi)),
    );
  } catch (err) {
    if (current()) fill(results, errorBox(err));
  }
}

// ---- map and trade-offs ----------------------------------------------------------------------------

function colourScale(values) {
  const present = values.filter((v) => v !== null && v !== undefined);
  const numeric = present.length && present.every((v) => typeof v === "number");
  const distinct = [...new Set(present.map(String))];
  if (numeric && distinct.length > PALETTE.length) {
    const lo = Math.min(...present);
    const hi = Math.max(...present);
    const stops = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]]; // viridis
    const colour = (v) => {
      if (v === null || v === undefined) return OTHER_COLOUR;
      const t = hi === lo ? 0.5 : (v - lo) / (hi - lo);
      const x = t * (stops.length - 1);
      const i = Math.min(stops.length - 2, Math.floor(x));
      const f = x - i;
      const c = stops[i].map((a, n) => Math.round(a + (stops[i + 1][n] - a) * f));
      return `rgb(${c.join(", ")})`;
    };
    return { colour, legend: [[`${lo}`, colour(lo)], [`${hi}`, colour(hi)]], kind: "numeric" };
  }
  const counts = new Map();
  for (const v of present.map(String)) counts.set(v, (counts.get(v) || 0) + 1);
  const top = [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).slice(0, PALETTE.length).map(([v]) => v).sort((a, b) => a.localeCompare(b, "en", { numeric: true }));
  const index = new Map(top.map((v, i) => [v, PALETTE[i]]));
  const colour = (v) => (v === null || v === undefined ? OTHER_COLOUR : index.get(String(v)) || OTHER_COLOUR);
  const legend = top.map((v) => [v, index.get(v)]);
  if (counts.size > top.length || present.length < values.length) legend.push([counts.size > top.length ? "other / none" : "none", OTHER_COLOUR]);
  return { colour, legend, kind: "categorical" };
}

function showTooltip(event, parts) {
  const tip = document.getElementById("tooltip");
  tip.replaceChildren();
  append(tip, parts);
  tip.hidden = false;
  const x = Math.min(event.clientX + 14, window.innerWidth - tip.offsetWidth - 8);
  const y = Math.min(event.clientY + 14, window.innerHeight - tip.offsetHeight - 8);
  tip.style.left = `${x}px`;
  tip.style.top = `${y}px`;
}

function hideTooltip() {
  document.getElementById("tooltip").hidden = true;
}

function niceTicks(lo, hi, count) {
  const span = hi - lo || 1;
  const step0 = span / count;
  const mag = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((st) => span / st <= count) || 10 * mag;
  const ticks = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + 1e-9; t += step) ticks.push(Number(t.toFixed(10)));
  return ticks;
}

function scatterMap(data) {
  const W = 760;
  const H = 470;
  const pad = 16;
  const xs = data.points.map((p) => p.x);
  const ys = data.points.map((p) => p.y);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const sx = (x) => pad + ((x - x0) / (x1 - x0 || 1)) * (W - 2 * pad);
  const sy = (y) => H - pad - ((y - y0) / (y1 - y0 || 1)) * (H - 2 * pad);
  const scale = colourScale(data.points.map((p) => p.value));
  const radius = data.points.length > 3000 ? 2.5 : data.points.length > 800 ? 3.5 : 5;
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": `2-D ${data.method.toUpperCase()} map of ${data.sampled} documents` },
    s("rect", { x: 0, y: 0, width: W, height: H, fill: "#fbfcfd", rx: 6 }),
    data.points.map((p) => s("circle", {
      class: "point", cx: sx(p.x).toFixed(1), cy: sy(p.y).toFixed(1), r: radius, fill: scale.colour(p.value), "fill-opacity": 0.85, "data-id": p.id,
      onmouseenter: (event) => showTooltip(event, [h("div", { class: "tip-id" }, p.id), data.color_by ? h("div", {}, `${data.color_by}: ${p.value === null ? "—" : formatValue(p.value)}`) : null, h("div", {}, p.text === null ? "(no text)" : p.text)]),
      onmousemove: (event) => showTooltip(event, [...document.getElementById("tooltip").childNodes]),
      onmouseleave: hideTooltip,
    })),
  );
  const legend = data.color_by ? h("ul", { class: "legend", "aria-label": `colours by ${data.color_by}` }, scale.legend.map(([label, colour]) => {
    const sw = h("span", { class: "swatch" });
    sw.style.background = colour;
    return h("li", {}, sw, label);
  })) : null;
  return [legend, svg];
}

/** Where a point's label goes: the first of four spots around it that stays in the chart and clear of `placed`. */
function placeLabel(placed, px, py, width, W, H) {
  const spots = [[px + 8, py - 9, "start"], [px + 8, py + 17, "start"], [px - 8, py - 9, "end"], [px - 8, py + 17, "end"]];
  const box = ([x, y, anchor]) => ({ x0: anchor === "start" ? x : x - width, x1: anchor === "start" ? x + width : x, y0: y - 11, y1: y + 2 });
  const fits = (b) => b.x0 >= 2 && b.x1 <= W - 2 && b.y0 >= 0 && b.y1 <= H && !placed.some((o) => b.x0 < o.x1 && o.x0 < b.x1 && b.y0 < o.y1 && o.y0 < b.y1);
  const spot = spots.find((sp) => fits(box(sp))) || spots.find((sp) => { const b = box(sp); return b.x0 >= 2 && b.x1 <= W - 2; }) || spots[0];
  placed.push(box(spot));
  return spot;
}

function paretoFront(rows) {
  const sorted = [...rows].sort((a, b) => a.ram_bytes_per_vector - b.ram_bytes_per_vector || b.retention - a.retention);
  const front = [];
  let best = -Infinity;
  for (const r of sorted) if (r.retention > best) { front.push(r); best = r.retention; }
  return front;
}

function tradeoffChart(report) {
  const rows = report.measured.filter((m) => typeof m.retention === "number" && m.ram_bytes_per_vector > 0);
  const W = 460;
  const H = 330;
  const m = { l: 50, r: 18, t: 26, b: 44 };
  const rams = rows.map((r) => r.ram_bytes_per_vector);
  const lx0 = Math.floor(Math.log2(Math.min(...rams)));
  const lx1 = Math.ceil(Math.log2(Math.max(...rams))) + (Math.min(...rams) === Math.max(...rams) ? 1 : 0);
  const ylo = Math.max(0, Math.floor(Math.min(...rows.map((r) => r.retention)) * 20) / 20 - 0.05);
  const sx = (b) => m.l + ((Math.log2(b) - lx0) / (lx1 - lx0 || 1)) * (W - m.l - m.r);
  const sy = (v) => H - m.b - ((v - ylo) / (1 - ylo || 1)) * (H - m.t - m.b);
  const front = paretoFront(rows);
  const onFront = new Set(front.map((r) => r.config));
  const yticks = niceTicks(ylo, 1, 6);
  const placed = []; // label boxes drawn so far, so labels do not overlap
  const xticks = [];
  for (let e = lx0; e <= lx1; e += 1) xticks.push(2 ** e);
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "Retention against RAM bytes per vector for each measured configuration" },
    yticks.map((t) => [s("line", { class: "grid", x1: m.l, x2: W - m.r, y1: sy(t), y2: sy(t) }), s("text", { x: m.l - 6, y: sy(t) + 4, "text-anchor": "end" }, `${(t * 100).toFixed(0)}%`)]),
    xticks.map((t) => [s("line", { class: "grid", x1: sx(t), x2: sx(t), y1: m.t, y2: H - m.b }), s("text", { x: sx(t), y: H - m.b + 16, "text-anchor": "middle" }, String(t))]),
    s("line", { class: "axis", x1: m.l, x2: W - m.r, y1: H - m.b, y2: H - m.b }),
    s("line", { class: "axis", x1: m.l, x2: m.l, y1: m.t, y2: H - m.b }),
    s("text", { x: (m.l + W - m.r) / 2, y: H - 8, "text-anchor": "middle" }, "RAM bytes per vector (log scale)"),
    s("text", { x: 14, y: (m.t + H - m.b) / 2, "text-anchor": "middle", transform: `rotate(-90 14 ${(m.t + H - m.b) / 2})` }, `retention (${report.metric || ""})`),
    s("polyline", { points: front.map((r) => `${sx(r.ram_bytes_per_vector)},${sy(r.retention)}`).join(" "), fill: "none", stroke: "#2456c7", "stroke-width": 1.5, "stroke-dasharray": "4 3" }),
    [...rows].sort((a, b) => (b.config === report.chosen) - (a.config === report.chosen) || a.ram_bytes_per_vector - b.ram_bytes_per_vector).map((r) => {
      const chosen = r.config === report.chosen;
      const current = r.config === report.current || (report.current === "none" && r.config === "float32");
      const dot = s("circle", {
        class: "point", cx: sx(r.ram_bytes_per_vector), cy: sy(r.retention), r: chosen ? 7 : 5,
        fill: chosen ? "#e15759" : onFront.has(r.config) ? "#2456c7" : "#9aa3b0", "data-config": r.config,
        onmouseenter: (event) => showTooltip(event, [h("div", { class: "tip-id" }, r.config), h("div", {}, `retention ${(r.retention * 100).toFixed(1)}% · ${r.ram_bytes_per_vector} B/vector in RAM · ${r.disk_bytes_per_vector} B on disk`), chosen ? h("div", {}, "chosen by simvec tune") : null, current ? h("div", {}, "the collection's current setting") : null]),
        onmouseleave: hideTooltip,
      });
      const text = r.config + (chosen ? " (chosen)" : "");
      const [x, y, anchor] = placeLabel(placed, sx(r.ram_bytes_per_vector), sy(r.retention), text.length * 6.2, W, H);
      const label = s("text", { class: onFront.has(r.config) || chosen ? "point-label" : "point-label minor", x, y, "text-anchor": anchor }, text);
      return [dot, label];
    }),
  );
  return svg;
}

async function mapPage(params, current) {
  document.title = "Map · simvec";
  show(h("h1", {}, "Map and trade-offs"), statusLine("Loading collections…"));
  const collections = await loadCollections();
  if (!current()) return;
  const names = collections.map((c) => c.name);
  if (!names.length) { show(h("h1", {}, "Map and trade-offs"), h("p", { class: "empty" }, "No collections yet.")); return; }
  const collection = names.includes(params.get("collection")) ? params.get("collection") : names[0];
  const colorBy = params.get("color") || "";
  const sample = Math.min(20000, Math.max(1, parseInt(params.get("sample") || "2000", 10) || 2000));
  const colourSelect = h("select", { name: "color", id: "color" }, h("option", { value: "" }, "(none)"), colorBy ? h("option", { value: colorBy, selected: true }, colorBy) : null);
  const form = h("form", { class: "query panel" }, h("div", { class: "row" },
    h("label", { class: "field" }, h("span", {}, "Collection"), collectionSelect(names, collection, { name: "collection" })),
    h("label", { class: "field" }, h("span", {}, "Colour by"), colourSelect),
    h("label", { class: "field" }, h("span", {}, "Sample"), h("input", { type: "number", name: "sample", min: 1, max: 20000, value: sample })),
    h("button", { type: "submit" }, "Draw"),
  ));
  const submit = () => {
    const data = new FormData(form);
    const next = new URLSearchParams({ collection: data.get("collection") });
    if (data.get("color")) next.set("color", data.get("color"));
    if (data.get("sample") && data.get("sample") !== "2000") next.set("sample", data.get("sample"));
    navigate(`/ui/map?${next}`);
  };
  form.addEventListener("submit", (event) => { event.preventDefault(); submit(); });
  form.querySelector("[name=collection]").addEventListener("change", () => { colourSelect.value = ""; submit(); });
  colourSelect.addEventListener("change", submit);
  const mapPanel = h("section", { class: "panel chart-panel", id: "map", "aria-labelledby": "map-title" }, h("h2", { id: "map-title" }, "Documents"), statusLine("Projecting the vectors…"));
  const tunePanel = h("section", { class: "panel chart-panel", id: "tradeoff", "aria-labelledby": "tune-title" }, h("h2", { id: "tune-title" }, "Compression trade-off"), statusLine("Loading the tune report…"));
  show(h("h1", {}, "Map and trade-offs"), form, h("div", { class: "two-col" }, mapPanel, tunePanel));
  const enc = encodeURIComponent(collection);
  const query = new URLSearchParams({ sample: String(sample) });
  if (colorBy) query.set("color_by", colorBy);
  const [mapResult, tuneResult] = await Promise.allSettled([api("GET", `/v1/collections/${enc}/map?${query}`), api("GET", `/v1/collections/${enc}/tune`)]);
  if (!current()) return;
  if (mapResult.status === "fulfilled") {
    const data = mapResult.value;
    const fields = Object.keys(data.fields);
    fill(colourSelect, h("option", { value: "" }, "(none)"), fields.map((f) => h("option", { value: f, selected: f === colorBy }, f)));
    if (colorBy && !fields.includes(colorBy)) colourSelect.append(h("option", { value: colorBy, selected: true }, colorBy));
    const method = data.method === "pca" && data.explained_variance ? `PCA (axes explain ${data.explained_variance.map((v) => `${(v * 100).toFixed(1)}%`).join(" and ")} of the variance)` : data.method.toUpperCase();
    fill(mapPanel, 
      h("h2", { id: "map-title" }, "Documents"),
      h("p", { class: "summary" }, `${data.sampled.toLocaleString("en")} of ${data.count.toLocaleString("en")} documents${data.sampled < data.count ? " (a random sample)" : ""} · ${method}. Hover a point to read it.`),
      data.points.length ? scatterMap(data) : h("p", { class: "empty" }, "The collection is empty."),
    );
  } else {
    fill(mapPanel, h("h2", { id: "map-title" }, "Documents"), errorBox(mapResult.reason));
  }
  if (tuneResult.status === "fulfilled") {
    const report = tuneResult.value;
    const rows = report.measured.filter((m) => typeof m.retention === "number");
    fill(tunePanel, 
      h("h2", { id: "tune-title" }, "Compression trade-off"),
      report.available && rows.length
        ? [
          h("p", { class: "summary" }, `${rows.length} configurations measured by simvec tune on ${report.queries} queries. Current: ${report.current === "none" ? "float32 (no compression)" : report.current}.`),
          tradeoffChart(report),
          report.reason ? h("p", { class: "hint" }, report.reason) : null,
        ]
        : h("p", { class: "empty" }, report.reason ? report.reason : ["No tune report yet. Run ", h("code", {}, `simvec tune DIR/${collection} --ram-bytes-per-vector 64 --min-retention 0.95`), " to measure retention against RAM on this collection's own data."]),
    );
  } else {
    fill(tunePanel, h("h2", { id: "tune-title" }, "Compression trade-off"), errorBox(tuneResult.reason));
  }
}

// ---- start -----------------------------------------------------------------------------------------

document.getElementById("key-button").addEventListener("click", () => {
  askForKey("").then(render, () => {});
});

async function start() {
  if (sessionStorage.getItem(KEY_STORAGE)) updateKeyButton(true);
  try {
    const health = await fetch("/healthz", { credentials: "omit" }).then((r) => r.json());
    document.getElementById("server-model").textContent = health.model || "";
  } catch (err) {
    // the page below shows the connection error
  }
  await render();
}

start();
