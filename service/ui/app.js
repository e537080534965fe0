// embattn web page: plain JS, no build step, nothing from another host. Every URL of the own
// service is relative ("../v1/..." from ".../ui/"), so the page works behind a path prefix.
"use strict";

const API = "../";
const TOKEN_KEY = "embattn-token";
const $ = (id) => document.getElementById(id);
const SVGNS = "http://www.w3.org/2000/svg";
let CONFIG = { service: "", peer: null };

// ------------------------------------------------------------------ helpers

function el(tag, attrs = {}, ...children) {
  const e = tag.startsWith("svg:") ? document.createElementNS(SVGNS, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") e.setAttribute("class", v);
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

function fmt(x, digits = 3) {
  if (x === null || x === undefined || Number.isNaN(x)) return "–";
  if (typeof x !== "number") return String(x);
  if (x !== 0 && Math.abs(x) < 1e-3) return x.toExponential(2);
  return x.toFixed(digits);
}

class ApiError extends Error {
  constructor(status, body) {
    const detail = body && typeof body === "object" ? body.detail || body.title : body;
    super(`${status}: ${detail || "request failed"}`);
    this.status = status;
    this.body = body;
  }
}

function setStatus(id, text, error = false) {
  const s = $(id);
  s.textContent = text;
  s.classList.toggle("error", error);
}

let pendingToken = null; // one prompt at a time, however many requests got a 401

function askToken() {
  if (pendingToken) return pendingToken;
  const dialog = $("token-dialog");
  $("token-input").value = "";
  pendingToken = new Promise((resolve) => {
    const done = () => {
      dialog.removeEventListener("close", done);
      const token = dialog.returnValue === "ok" ? $("token-input").value.trim() : "";
      if (token) sessionStorage.setItem(TOKEN_KEY, token);
      pendingToken = null;
      resolve(token);
    };
    dialog.addEventListener("close", done);
    dialog.returnValue = "";
    dialog.showModal();
    $("token-input").focus();
  });
  return pendingToken;
}

// fetch the own service (base API) or the peer (base = its URL); 401 on the own service asks for
// the token (kept in sessionStorage only) and retries once.
async function api(path, opts = {}, base = API) {
  const headers = { ...(opts.headers || {}) };
  const own = base === API;
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (own && token) headers.Authorization = `Bearer ${token}`;
  let body = opts.body;
  if (opts.json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(opts.json);
  }
  const t0 = performance.now();
  const r = await fetch(base + path, { method: opts.method || "GET", headers, body });
  const ms = performance.now() - t0;
  if (r.status === 401 && own && !opts.retried) {
    sessionStorage.removeItem(TOKEN_KEY);
    if (await askToken()) return api(path, { ...opts, retried: true }, base);
  }
  const type = r.headers.get("content-type") || "";
  const data = type.includes("json") ? await r.json() : await r.text();
  if (!r.ok) throw new ApiError(r.status, data);
  return { data, ms, status: r.status };
}

function errorText(e) {
  if (e instanceof ApiError && e.body && e.body.unknown_words) return `unknown words: ${e.body.unknown_words.join(", ")}`;
  return e.message || String(e);
}

const tooltip = {
  show(evt, text) {
    const t = $("tooltip");
    t.textContent = text;
    t.hidden = false;
    t.style.left = `${evt.clientX + 12}px`;
    t.style.top = `${evt.clientY + 12}px`;
  },
  hide() {
    $("tooltip").hidden = true;
  },
};

function download(filename, text, type) {
  const a = el("a", { href: URL.createObjectURL(new Blob([text], { type })), download: filename });
  document.body.append(a);
  a.click();
  a.remove();
}

async function fillModels(select, { allowNone = false } = {}) {
  const { data } = await api("v1/models");
  const previous = select.value;
  select.replaceChildren();
  if (allowNone) select.append(el("option", { value: "", text: "— none —" }));
  for (const m of data.models) select.append(el("option", { value: m.name, text: m.name }));
  if ([...select.options].some((o) => o.value === previous)) select.value = previous;
  return data.models;
}

// ------------------------------------------------------------------ navigation

const VIEWS = {
  embeddings: [["explorer", "Embeddings explorer"], ["jobs", "Jobs"]],
  attention: [["alignment", "Alignment viewer"], ["jobs", "Jobs"]],
};
const PEER_VIEW = { embeddings: ["explorer", "Embeddings explorer"], attention: ["alignment", "Alignment viewer"] };
const started = {};

function route() {
  const views = VIEWS[CONFIG.service] || [];
  let name = location.hash.slice(1);
  if (!views.some(([v]) => v === name)) name = views[0][0];
  for (const s of document.querySelectorAll(".view")) s.hidden = s.id !== `view-${name}`;
  for (const a of $("nav").querySelectorAll("a[data-view]")) a.classList.toggle("active", a.dataset.view === name);
  if (!started[name]) {
    started[name] = true;
    ({ explorer: initExplorer, alignment: initAlignment, jobs: initJobs })[name]();
  } else if (name === "jobs") refreshJobs();
}

function buildNav() {
  const nav = $("nav");
  for (const [v, label] of VIEWS[CONFIG.service] || []) nav.append(el("a", { href: `#${v}`, "data-view": v, text: label }));
  if (CONFIG.peer && PEER_VIEW[CONFIG.peer.service]) {
    const [v, label] = PEER_VIEW[CONFIG.peer.service];
    nav.append(el("a", { href: `${CONFIG.peer.url}/ui/#${v}`, text: `${label} ↗`, title: `on the ${CONFIG.peer.service} service` }));
  }
}

// ------------------------------------------------------------------ embeddings explorer

let exactSupported = false;

function versionQuery(select) {
  return select.value ? `?version=${encodeURIComponent(select.value)}` : "";
}

async function initExplorer() {
  const model = $("ex-model");
  const version = $("ex-version");
  try {
    const doc = (await api("openapi.json")).data;
    const props = ((doc.components || {}).schemas || {}).SimilarQuery;
    exactSupported = !!(props && props.properties && props.properties.exact);
  } catch (_) {
    exactSupported = false;
  }
  $("ex-exact-label").hidden = !exactSupported;
  const loadVersions = async () => {
    version.replaceChildren(el("option", { value: "", text: "current" }));
    if (!model.value) return;
    try {
      const { data } = await api(`v1/models/${encodeURIComponent(model.value)}/versions`);
      for (const v of [...data.versions].reverse())
        version.append(el("option", { value: String(v.version), text: `v${v.version}${v.current ? " (current)" : ""}` }));
    } catch (e) {
      setStatus("ex-status", errorText(e), true);
    }
  };
  model.addEventListener("change", loadVersions);
  try {
    const models = await fillModels(model);
    if (!models.length) setStatus("ex-status", "no model yet: train one (Jobs)");
    await loadVersions();
  } catch (e) {
    setStatus("ex-status", errorText(e), true);
  }
  setupAutocomplete();
  $("ex-form").addEventListener("submit", (evt) => {
    evt.preventDefault();
    $("ex-suggest").hidden = true;
    neighbours($("ex-word").value.trim());
  });
  $("an-form").addEventListener("submit", (evt) => {
    evt.preventDefault();
    analogy();
  });
}

function setupAutocomplete() {
  const input = $("ex-word");
  const list = $("ex-suggest");
  let timer = null;
  let seq = 0;
  input.addEventListener("input", () => {
    clearTimeout(timer);
    const prefix = input.value;
    if (!prefix) {
      list.hidden = true;
      return;
    }
    timer = setTimeout(async () => {
      const mine = ++seq;
      try {
        const q = new URLSearchParams({ prefix, limit: "10" });
        if ($("ex-version").value) q.set("version", $("ex-version").value);
        const { data } = await api(`v1/models/${encodeURIComponent($("ex-model").value)}/words?${q}`);
        if (mine !== seq) return;
        list.replaceChildren(
          ...data.words.map((w) =>
            el("li", {
              text: w.word,
              title: `rank ${w.rank}`,
              onmousedown: (evt) => {
                evt.preventDefault();
                input.value = w.word;
                list.hidden = true;
                neighbours(w.word);
              },
            }),
          ),
        );
        list.hidden = data.words.length === 0;
      } catch (_) {
        list.hidden = true;
      }
    }, 120);
  });
  input.addEventListener("blur", () => setTimeout(() => (list.hidden = true), 150));
  input.addEventListener("keydown", (evt) => {
    const items = [...list.querySelectorAll("li")];
    if (list.hidden || !items.length) return;
    let i = items.findIndex((li) => li.classList.contains("active"));
    if (evt.key === "ArrowDown" || evt.key === "ArrowUp") {
      evt.preventDefault();
      i = evt.key === "ArrowDown" ? (i + 1) % items.length : (i - 1 + items.length) % items.length;
      items.forEach((li, j) => li.classList.toggle("active", j === i));
      input.value = items[i].textContent;
    }
  });
}

function resultsTable(table, results, onWord) {
  const max = Math.max(1e-9, ...results.map((r) => Math.abs(r.score)));
  table.replaceChildren(
    ...results.map((r) =>
      el(
        "tr",
        { class: "neighbour" },
        el("td", { class: "word" }, el("a", { text: r.word, onclick: () => onWord(r.word) })),
        el(
          "td",
          { class: "score" },
          el("div", { class: "bar" }, el("span", { style: `width:${(100 * Math.max(0, r.score)) / max}%` }), el("em", { text: fmt(r.score) })),
        ),
      ),
    ),
  );
}

async function neighbours(word) {
  if (!word) return;
  $("ex-word").value = word;
  const name = encodeURIComponent($("ex-model").value);
  const vq = versionQuery($("ex-version"));
  const topn = Number($("ex-topn").value) || 10;
  const body = { positive: [word], topn };
  if (exactSupported) body.exact = $("ex-exact").checked;
  setStatus("ex-status", "…");
  try {
    const { data, ms } = await api(`v1/models/${name}/similar${vq}`, { method: "POST", json: body });
    setStatus("ex-status", `${data.results.length} neighbours of “${word}” in ${ms.toFixed(1)} ms`);
    resultsTable($("ex-results"), data.results, neighbours);
  } catch (e) {
    setStatus("ex-status", errorText(e), true);
    $("ex-results").replaceChildren();
    return;
  }
  try {
    const { data, ms } = await api(`v1/models/${name}/projection${vq}`, { method: "POST", json: { word, topn } });
    drawProjection(data);
    const [a, b] = data.explained_variance;
    setStatus("ex-variance", `explained variance: x ${(100 * a).toFixed(1)}%, y ${(100 * b).toFixed(1)}% · ${ms.toFixed(1)} ms`);
  } catch (e) {
    setStatus("ex-variance", errorText(e), true);
  }
}

function drawProjection(data) {
  const W = 520, H = 360, pad = 40;
  const xs = data.points.map((p) => p.x), ys = data.points.map((p) => p.y);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)], [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  const sx = (x) => pad + ((x - x0) / (x1 - x0 || 1)) * (W - 2 * pad);
  const sy = (y) => H - pad - ((y - y0) / (y1 - y0 || 1)) * (H - 2 * pad);
  const svg = el("svg:svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "PCA projection" });
  svg.append(el("svg:rect", { x: 0, y: 0, width: W, height: H, fill: "#fafbfc" }));
  data.points.forEach((p, i) => {
    const label = p.neighbour_score === null ? p.word : `${p.word}\ncosine ${fmt(p.neighbour_score)}`;
    const c = el("svg:circle", {
      cx: sx(p.x), cy: sy(p.y), r: i === 0 ? 7 : 5, class: i === 0 ? "query" : "point", "data-word": p.word,
      onmousemove: (evt) => tooltip.show(evt, label), onmouseleave: () => tooltip.hide(),
      onclick: () => neighbours(p.word),
    });
    svg.append(c, el("svg:text", { x: sx(p.x) + 8, y: sy(p.y) + 4, text: p.word }));
  });
  $("ex-projection").replaceChildren(svg);
}

async function analogy() {
  const [a, b, c] = ["an-a", "an-b", "an-c"].map((id) => $(id).value.trim());
  const name = encodeURIComponent($("ex-model").value);
  const body = { a, b, c, topn: 5 };
  if (exactSupported) body.exact = $("ex-exact").checked;
  try {
    const { data, ms } = await api(`v1/models/${name}/analogy${versionQuery($("ex-version"))}`, { method: "POST", json: body });
    setStatus("an-status", `${a} : ${b} :: ${c} : ${data.results.length ? data.results[0].word : "?"} (${ms.toFixed(1)} ms)`);
    resultsTable($("an-results"), data.results, neighbours);
  } catch (e) {
    setStatus("an-status", errorText(e), true);
    $("an-results").replaceChildren();
  }
}

// ------------------------------------------------------------------ alignment viewer

// The API's own description of a request body (OpenAPI), so the page offers only what the API takes
// and with its bounds. Read once; null when the document is unreadable.
let openapiDoc = null;

async function openapi() {
  if (openapiDoc === null) {
    try {
      openapiDoc = (await api("openapi.json")).data;
    } catch (_) {
      openapiDoc = {};
    }
  }
  return openapiDoc;
}

// the JSON body schema of the operation whose path ends with `suffix` ("{name}/translate")
function requestSchema(doc, suffix, method = "post") {
  const schemas = (doc.components || {}).schemas || {};
  const resolve = (s) => (s && s.$ref ? schemas[s.$ref.split("/").pop()] : s);
  try {
    const path = Object.keys(doc.paths || {}).find((p) => p.endsWith(suffix) && doc.paths[p][method]);
    return resolve(doc.paths[path][method].requestBody.content["application/json"].schema) || null;
  } catch (_) {
    return null;
  }
}

// {min, max, default} of a numeric property, looking through anyOf (a nullable number)
function numberBounds(prop) {
  const out = { default: prop.default };
  for (const p of [prop, ...(prop.anyOf || [])]) {
    if (p.minimum !== undefined) out.min = p.minimum;
    if (p.maximum !== undefined) out.max = p.maximum;
  }
  return out;
}

// beam options the API takes: {beam_size: {min, max}, n_best: …, length_penalty: …, coverage_penalty: …}
let BEAM_OPTIONS = {};
const BEAM_INPUTS = { beam_size: "al-beam", n_best: "al-nbest", length_penalty: "al-lp", coverage_penalty: "al-cp" };

async function readBeamOptions() {
  const schema = requestSchema(await openapi(), "{name}/translate");
  const props = (schema && schema.properties) || {};
  BEAM_OPTIONS = {};
  for (const [key, id] of Object.entries(BEAM_INPUTS)) {
    if (!props[key]) continue;
    const b = (BEAM_OPTIONS[key] = numberBounds(props[key]));
    if (b.min !== undefined) $(id).min = String(b.min);
    if (b.max !== undefined) $(id).max = String(b.max);
  }
}

function parsePharaoh(text) {
  const links = [];
  for (const item of (text || "").trim().split(/\s+/).filter(Boolean)) {
    const m = /^(\d+)[-:](\d+)$/.exec(item);
    if (!m) throw new Error(`gold link ${JSON.stringify(item)} is not Pharaoh "s-t"`);
    links.push([Number(m[1]), Number(m[2])]);
  }
  return links;
}

async function initAlignment() {
  const mode = $("al-mode");
  const decode = $("al-decode");
  const sync = () => {
    const align = mode.value === "align";
    const beam = decode.value === "beam";
    for (const e of document.querySelectorAll(".translate-only")) e.hidden = align;
    for (const e of document.querySelectorAll(".align-only")) e.hidden = !align;
    // n-best and the penalties: only with a beam, and only the options the API has
    for (const [key, id] of Object.entries(BEAM_INPUTS)) {
      if (key === "beam_size") continue;
      const on = !align && beam && !!BEAM_OPTIONS[key];
      $(`${id}-label`).hidden = !on;
      $(id).disabled = !on;
    }
    $("al-beam").disabled = !beam;
  };
  mode.addEventListener("change", sync);
  decode.addEventListener("change", sync);
  $("al-form").addEventListener("submit", (evt) => {
    evt.preventDefault();
    runAlignment();
  });
  sync();
  const options = readBeamOptions().then(sync);
  try {
    const models = await fillModels($("al-model"));
    await fillModels($("al-model2"), { allowNone: true });
    if (!models.length) setStatus("al-status", "no model yet: train one (Jobs)");
  } catch (e) {
    setStatus("al-status", errorText(e), true);
  }
  $("al-model").addEventListener("change", showModelInfo);
  $("al-model2").addEventListener("change", showModelInfo);
  showModelInfo();
  await options;
}

// ------------------------------------------------ model info: dev/test metrics

const METRICS = [
  ["n", "examples"],
  ["loss", "loss"],
  ["exact_match", "exact match"],
  ["token_accuracy", "token accuracy"],
  ["token_error_rate", "token error rate (PER/CER)"],
  ["sequence_error_rate", "sequence error rate (WER)"],
  ["bleu", "BLEU"],
  ["alignment_accuracy", "alignment accuracy"],
  ["alignment_error_rate", "AER"],
  ["precision", "alignment precision"],
  ["recall", "alignment recall"],
  ["best_epoch", "best epoch"],
];
const METRIC_NAMES = Object.fromEntries(METRICS);
const METRIC_HINTS = {
  token_error_rate: "edit distance / reference tokens: PER for phoneme targets, CER for characters",
  sequence_error_rate: "share of outputs matching no reference (WER for g2p)",
  alignment_error_rate: "alignment error rate (Och & Ney) of the argmax links against the gold links",
  alignment_accuracy: "share of gold links that are their attention row's argmax",
  bleu: "corpus BLEU, 0-100",
};

function metricName(key) {
  return METRIC_NAMES[key] || key.replace(/_/g, " ");
}

function metricValue(key, v) {
  if (typeof v !== "number") return v === null || v === undefined ? "–" : String(v);
  if (key === "n" || key === "best_epoch" || (Number.isInteger(v) && Math.abs(v) > 1)) return String(v);
  return fmt(v, key === "bleu" ? 2 : 3);
}

// dev_metrics keys are "dev_…" (and best_epoch); test_metrics and /evaluate answers are bare
function bareMetrics(metrics, prefix) {
  const out = {};
  for (const [k, v] of Object.entries(metrics || {})) {
    if (v === null || v === undefined || typeof v === "object") continue;
    const key = prefix && k.startsWith(prefix) ? k.slice(prefix.length) : k;
    if (key === "aer" && "alignment_error_rate" in (metrics || {})) continue; // the same figure twice
    out[key === "aer" ? "alignment_error_rate" : key] = v;
  }
  return out;
}

function tokenizationText(config) {
  const t = (config || {}).tokenization;
  if (!t) return "";
  if (typeof t === "string") return `${t} tokens`;
  return `${t.source} → ${t.target} tokens`;
}

function metricsTable(columns) {
  const keys = new Set(columns.flatMap(([, m]) => Object.keys(m)));
  const order = [...METRICS.map(([k]) => k).filter((k) => keys.has(k)), ...[...keys].filter((k) => !(k in METRIC_NAMES)).sort()];
  return el(
    "table",
    { class: "metrics" },
    el("tr", {}, el("th", { text: "" }), ...columns.map(([label]) => el("th", { class: "col", text: label }))),
    ...order.map((k) =>
      el(
        "tr",
        { "data-metric": k },
        el("th", { class: "name", text: metricName(k), title: METRIC_HINTS[k] || k }),
        ...columns.map(([label, m]) => el("td", { class: "num", "data-split": label, text: k in m ? metricValue(k, m[k]) : "–" })),
      ),
    ),
  );
}

function metricsCard(m) {
  const columns = [];
  const dev = bareMetrics(m.dev_metrics, "dev_");
  if (Object.keys(dev).length) columns.push(["dev", dev]);
  const test = bareMetrics(m.test_metrics, "");
  if (Object.keys(test).length) columns.push(["test", test]);
  const tableBox = el("div", { class: "metrics-box" });
  const status = el("span", { class: "status" });
  const render = () =>
    tableBox.replaceChildren(columns.length ? metricsTable(columns) : el("p", { class: "status", text: "no metrics stored" }));
  render();
  const task = (m.source || {}).task;
  const split = el(
    "select",
    { class: "eval-split", "aria-label": "split" },
    el("option", { value: "dev", text: "dev" }),
    task ? el("option", { value: "test", text: "test" }) : null,
  );
  const button = el("button", {
    type: "button", class: "secondary evaluate", text: "Evaluate",
    onclick: async () => {
      const body = { split: split.value, decode: $("al-decode").value };
      if (body.decode === "beam") body.beam_size = Number($("al-beam").value) || 4;
      const label = `${body.split} now (${body.decode === "beam" ? `beam ${body.beam_size}` : "greedy"})`;
      button.disabled = true;
      status.textContent = "…";
      status.classList.remove("error");
      try {
        const { data, ms } = await api(`v1/models/${encodeURIComponent(m.name)}/evaluate`, { method: "POST", json: body });
        const i = columns.findIndex(([l]) => l.endsWith(")"));
        if (i >= 0) columns.splice(i, 1);
        columns.push([label, bareMetrics(data, "")]);
        render();
        status.textContent = `${data.n} examples in ${(ms / 1000).toFixed(1)} s`;
      } catch (e) {
        status.textContent = errorText(e);
        status.classList.add("error");
      } finally {
        button.disabled = false;
      }
    },
  });
  const about = [`v${m.version}`, tokenizationText(m.config), task ? `task ${task.name}` : null].filter(Boolean).join(" · ");
  return el(
    "div",
    { class: "card model-info", "data-model": m.name },
    el("h2", {}, m.name, " ", el("span", { class: "hint", text: about })),
    tableBox,
    el("div", { class: "row eval" }, split, button, status),
  );
}

let infoSeq = 0;

async function showModelInfo() {
  const names = [...new Set([$("al-model").value, $("al-model2").value].filter(Boolean))];
  const mine = ++infoSeq;
  const cards = [];
  for (const name of names) {
    try {
      const { data } = await api(`v1/models/${encodeURIComponent(name)}`);
      cards.push(metricsCard(data));
    } catch (e) {
      cards.push(el("div", { class: "card model-info", "data-model": name }, el("h2", { text: name }), el("p", { class: "status error", text: errorText(e) })));
    }
  }
  if (mine === infoSeq) $("al-metrics").replaceChildren(...cards);
}

// ------------------------------------------------ decode / align

// the translate request of the form; throws on an input the API would refuse anyway
function translateBody(inputs) {
  const body = { inputs, decode: $("al-decode").value };
  if (body.decode !== "beam") return body;
  body.beam_size = Number($("al-beam").value) || 4;
  const number = (key, id) => {
    if (!BEAM_OPTIONS[key]) return undefined;
    const raw = $(id).value.trim();
    if (raw === "") {
      if ($(id).validity && $(id).validity.badInput) throw new Error(`${key.replace("_", " ")}: not a number`);
      return undefined;
    }
    const v = Number(raw);
    const b = BEAM_OPTIONS[key];
    if (!Number.isFinite(v) || (b.min !== undefined && v < b.min) || (b.max !== undefined && v > b.max))
      throw new Error(`${key.replace("_", " ")} must be a number in ${b.min ?? "…"}..${b.max ?? "…"}`);
    return v;
  };
  const nBest = number("n_best", "al-nbest");
  if (nBest !== undefined && nBest !== 1) {
    if (!Number.isInteger(nBest)) throw new Error("n-best must be a whole number");
    if (nBest > body.beam_size) throw new Error(`n-best (${nBest}) must be at most the beam (${body.beam_size})`);
    body.n_best = nBest;
  }
  const lp = number("length_penalty", "al-lp");
  if (lp !== undefined) body.length_penalty = lp;
  const cp = number("coverage_penalty", "al-cp");
  if (cp !== undefined && cp !== 0) body.coverage_penalty = cp;
  return body;
}

async function runAlignment() {
  const models = [$("al-model").value, $("al-model2").value].filter(Boolean);
  const columns = $("al-columns");
  columns.replaceChildren();
  setStatus("al-status", "…");
  const align = $("al-mode").value === "align";
  let gold = null;
  let body = null;
  try {
    if (align && $("al-gold").value.trim()) gold = parsePharaoh($("al-gold").value);
    if (!align) {
      const inputs = $("al-inputs").value.split("\n").map((s) => s.trim()).filter(Boolean);
      if (!inputs.length) throw new Error("type an input");
      body = translateBody(inputs);
    }
  } catch (e) {
    setStatus("al-status", e.message, true);
    return;
  }
  const times = [];
  for (const model of [...new Set(models)]) {
    const col = el("div", { class: "column", "data-model": model }, el("h2", { text: model }));
    columns.append(col);
    try {
      if (align) {
        const pair = [$("al-source").value, $("al-target").value];
        const req = { pairs: [pair] };
        if (gold) req.gold = [$("al-gold").value.trim()];
        const { data, ms } = await api(`v1/models/${encodeURIComponent(model)}/align`, { method: "POST", json: req });
        times.push(`${model} ${ms.toFixed(0)} ms`);
        for (const a of data.alignments) {
          col.append(heatmapCard(model, {
            source: a.source, target: a.target, src: a.source_tokens, out: a.target_tokens,
            attention: a.attention, links: a.links, pharaoh: a.pharaoh, scores: a.scores, gold,
            alignmentAccuracy: data.alignments.length === 1 ? data.alignment_accuracy : null,
            meta: `log p ${fmt(a.log_prob)}`, raw: a, query: { input: a.source, target: a.target },
          }));
        }
      } else {
        const { data, ms } = await api(`v1/models/${encodeURIComponent(model)}/translate`, { method: "POST", json: body });
        times.push(`${model} ${ms.toFixed(0)} ms`);
        for (const o of data.outputs) {
          if (o.hypotheses && o.hypotheses.length) col.append(hypothesesCard(model, o, body));
          else col.append(heatmapCard(model, translationView(o, o, body, 0)));
        }
      }
    } catch (e) {
      col.append(el("p", { class: "status error", text: errorText(e) }));
    }
  }
  setStatus("al-status", times.join(" · "));
}

// what heatmapCard draws for output o, or for one of its hypotheses h (rank k, 0 = best);
// the labels are the API's own tokens: source_tokens across, the hypothesis's output_tokens down
function translationView(o, h, body, k) {
  const unknown = o.unknown_tokens && o.unknown_tokens.length ? ` · unknown: ${o.unknown_tokens.join(" ")}` : "";
  const status = h.finished ? "finished" : "max_len reached";
  const hyp = h !== o;
  // the image endpoints decode without n-best/penalties: a lower hypothesis, or the best one
  // under a penalty, is drawn by teacher-forcing its own output instead
  const penalised = body.length_penalty !== undefined || body.coverage_penalty !== undefined;
  let query;
  if (hyp && (k > 0 || penalised)) query = { input: o.input, target: h.output };
  else if (!hyp && penalised) query = { input: o.input, target: o.output };
  else {
    query = { input: o.input, decode: body.decode };
    if (body.decode === "beam") query.beam_size = body.beam_size;
  }
  const raw = hyp ? { input: o.input, source_tokens: o.source_tokens, rank: k + 1, ...h } : o;
  return {
    source: o.input, target: h.output, src: o.source_tokens, out: h.output_tokens,
    attention: h.attention, links: h.links, pharaoh: h.pharaoh, scores: null, gold: null,
    meta: hyp
      ? `hypothesis ${k + 1} · score ${fmt(h.score)} · log p ${fmt(h.log_prob)} · ${status}${unknown}`
      : `score ${fmt(o.score)} · ${status}${unknown}`,
    raw, query, rank: hyp ? k + 1 : null,
  };
}

// n-best: the list of hypotheses (rank, output, score, log p); a click shows that one's heatmap
function hypothesesCard(model, o, body) {
  const hyps = o.hypotheses;
  const card = el("div", { class: "card heatmap-card hyp-card", "data-input": o.input });
  let rows = [];
  const select = (k) => {
    rows.forEach((r, i) => r.classList.toggle("selected", i === k));
    card.dataset.selected = String(k + 1);
    card.replaceChildren(...heatmapParts(model, translationView(o, hyps[k], body, k), table));
  };
  rows = hyps.map((h, k) =>
    el(
      "tr",
      {
        class: "hyp", "data-rank": k + 1, tabindex: 0, title: "show this hypothesis's attention",
        onclick: () => select(k),
        onkeydown: (evt) => {
          if (evt.key === "Enter" || evt.key === " ") {
            evt.preventDefault();
            select(k);
          } else if (evt.key === "ArrowDown" || evt.key === "ArrowUp") {
            evt.preventDefault();
            const j = Math.min(hyps.length - 1, Math.max(0, k + (evt.key === "ArrowDown" ? 1 : -1)));
            select(j);
            rows[j].focus();
          }
        },
      },
      el("td", { class: "rank", text: String(k + 1) }),
      el("td", { class: "word hyp-output", text: h.output === "" ? "(empty)" : h.output }),
      el("td", { class: "num hyp-score", text: fmt(h.score) }),
      el("td", { class: "num hyp-logp", text: fmt(h.log_prob) }),
    ),
  );
  const table = el(
    "table",
    { class: "hypotheses", "aria-label": `${hyps.length} best hypotheses of ${o.input}` },
    el("tr", {}, ...["#", "output", "score", "log p"].map((t) => el("th", { text: t }))),
    ...rows,
  );
  select(0);
  return card;
}

function alignmentScores(pred, gold) {
  const key = ([s, t]) => `${s}-${t}`;
  const p = new Set(pred.map(key)), g = new Set(gold.map(key));
  const hit = [...p].filter((x) => g.has(x)).length;
  const precision = p.size ? hit / p.size : 0, recall = g.size ? hit / g.size : 0;
  const aer = p.size + g.size ? 1 - (2 * hit) / (p.size + g.size) : 0;
  return { precision, recall, aer };
}

function heatmapCard(model, a) {
  return el("div", { class: "card heatmap-card" }, ...heatmapParts(model, a));
}

// the contents of a heatmap card: title, meta line, [extra, e.g. the hypotheses], scores, heatmap, downloads
function heatmapParts(model, a, extra = null) {
  const cell = 26, left = 14 + 9 * Math.max(1, ...a.out.map((t) => t.length)), top = 14 + 9 * Math.max(1, ...a.src.map((t) => t.length));
  const W = left + cell * a.src.length + 8, H = top + cell * a.out.length + 8;
  const svg = el("svg:svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img", "aria-label": `attention of ${model}` });
  const show = (t) => (t === " " ? "␣" : t);
  const colLabels = a.src.map((t, j) => {
    const x = left + cell * j + cell / 2 + 4;
    return el("svg:text", { x, y: top - 6, transform: `rotate(-60 ${x} ${top - 6})`, class: "col-label", text: show(t) });
  });
  const rowLabels = a.out.map((t, i) => el("svg:text", { x: left - 6, y: top + cell * i + cell / 2 + 4, "text-anchor": "end", class: "row-label", text: show(t) }));
  svg.append(...colLabels, ...rowLabels);
  const rowBand = el("svg:rect", { class: "band", x: left, y: 0, width: cell * a.src.length, height: cell, visibility: "hidden" });
  const colBand = el("svg:rect", { class: "band", x: 0, y: top, width: cell, height: cell * a.out.length, visibility: "hidden" });
  const attention = a.attention || [];
  attention.forEach((row, i) =>
    row.forEach((w, j) => {
      const r = el("svg:rect", {
        class: "cell", x: left + cell * j, y: top + cell * i, width: cell, height: cell,
        fill: `rgba(47,111,222,${Math.min(1, Math.max(0.02, w))})`, "data-row": i, "data-col": j, "data-weight": w,
        onmousemove: (evt) => {
          tooltip.show(evt, `${show(a.out[i])} ← ${show(a.src[j])}\nweight ${w.toFixed(4)}`);
          rowBand.setAttribute("y", top + cell * i);
          colBand.setAttribute("x", left + cell * j);
          rowBand.setAttribute("visibility", "visible");
          colBand.setAttribute("visibility", "visible");
          rowLabels.forEach((l, k) => l.classList.toggle("hl", k === i));
          colLabels.forEach((l, k) => l.classList.toggle("hl", k === j));
        },
        onmouseleave: () => {
          tooltip.hide();
          rowBand.setAttribute("visibility", "hidden");
          colBand.setAttribute("visibility", "hidden");
          rowLabels.forEach((l) => l.classList.remove("hl"));
          colLabels.forEach((l) => l.classList.remove("hl"));
        },
      });
      svg.append(r);
    }),
  );
  svg.append(rowBand, colBand);
  for (const [s, t] of a.links) svg.append(el("svg:circle", { class: "argmax", cx: left + cell * s + cell / 2, cy: top + cell * t + cell / 2, r: cell / 5 }));
  let scores = a.scores;
  if (a.gold) {
    for (const [s, t] of a.gold)
      if (s < a.src.length && t < a.out.length)
        svg.append(el("svg:rect", { class: "gold", x: left + cell * s + 2, y: top + cell * t + 2, width: cell - 4, height: cell - 4 }));
    scores = scores || alignmentScores(a.links, a.gold);
  }
  const q = new URLSearchParams(a.query).toString();
  const img = (ext) => `${API}v1/models/${encodeURIComponent(model)}/attention.${ext}?${q}`;
  const base = a.rank ? `${model}-hypothesis${a.rank}-attention` : `${model}-attention`;
  const scoreText = scores
    ? `precision ${fmt(scores.precision)} · recall ${fmt(scores.recall)} · AER ${fmt(scores.aer)}` +
      (typeof a.alignmentAccuracy === "number" ? ` · alignment accuracy ${fmt(a.alignmentAccuracy)}` : "")
    : "";
  return [
    el("h3", { text: `${a.source} → ${a.target}` }),
    el("div", { class: "meta", text: a.meta }),
    extra,
    scores ? el("div", { class: "scores", text: scoreText }) : null,
    a.out.length ? el("div", { class: "heatmap" }, svg) : el("p", { class: "status", text: "(empty output: nothing to show)" }),
    el("div", { class: "legend" }, "○ argmax link", a.gold ? el("span", { class: "g", text: "  □ gold link" }) : null),
    el(
      "div",
      { class: "downloads" },
      a.out.length ? el("a", { href: img("png"), download: `${base}.png`, text: "PNG" }) : null,
      a.out.length ? el("a", { href: img("svg"), download: `${base}.svg`, text: "SVG" }) : null,
      el("a", { href: "#", text: "JSON", onclick: (e) => { e.preventDefault(); download(`${base}.json`, JSON.stringify(a.raw, null, 2), "application/json"); } }),
      el("a", { href: "#", text: "Pharaoh", onclick: (e) => { e.preventDefault(); download(`${base}.txt`, `${a.pharaoh}\n`, "text/plain"); } }),
    ),
  ].filter((x) => x !== null);
}

// ------------------------------------------------------------------ jobs

let selectedJob = null; // {base, id, own}
let jobsTimer = null;

function initJobs() {
  const fields = $("train-fields");
  if (CONFIG.service === "embeddings") {
    fields.append(el("label", {}, "sentences ", el("input", { id: "train-text", value: "the cat sat on the mat. the dog sat on the log", size: 40 })));
  } else {
    const sel = el("select", { id: "train-task" }, ...["reversal", "copy", "dates"].map((t) => el("option", { value: t, text: t })));
    fields.append(el("label", {}, "task ", sel));
    // the built-in tasks the API knows (g2p too, where it has it), from its OpenAPI document
    openapi().then((doc) => {
      const task = (((doc.components || {}).schemas || {}).TaskSpec || {}).properties;
      const names = task && task.name && task.name.enum;
      if (Array.isArray(names) && names.length) {
        const previous = sel.value;
        const order = [...["reversal", "copy", "dates"].filter((t) => names.includes(t)), ...names.filter((t) => !["reversal", "copy", "dates"].includes(t))];
        sel.replaceChildren(...order.map((t) => el("option", { value: t, text: t })));
        if (names.includes(previous)) sel.value = previous;
      }
    });
  }
  $("train-form").addEventListener("submit", async (evt) => {
    evt.preventDefault();
    const name = $("train-name").value.trim();
    const epochs = Number($("train-epochs").value) || 5;
    const body =
      CONFIG.service === "embeddings"
        ? { name, algorithm: "word2vec", overwrite: true, sentences: $("train-text").value.split(/[.\n]/).map((s) => s.trim()).filter(Boolean), params: { min_count: 1, epochs, vector_size: 32 } }
        : { name, overwrite: true, task: { name: $("train-task").value, n_train: 1000 }, config: { hidden: 32 }, params: { epochs } };
    try {
      const { data } = await api("v1/models", { method: "POST", json: body });
      setStatus("train-status", `job ${data.job_id} ${data.status}`);
      selectedJob = { base: API, id: data.job_id, own: true };
      refreshJobs();
    } catch (e) {
      setStatus("train-status", errorText(e), true);
    }
  });
  const panels = $("jobs-panels");
  panels.append(jobsPanel(CONFIG.service, API, true));
  if (CONFIG.peer) panels.append(jobsPanel(CONFIG.peer.service, `${CONFIG.peer.url}/`, false));
  refreshJobs();
}

function jobsPanel(service, base, own) {
  return el(
    "div",
    { class: "card jobs-panel", "data-service": service, "data-base": base, "data-own": own ? "1" : "" },
    el("h2", { text: `${service} ${own ? "(this service)" : "(peer)"}` }),
    el("p", { class: "status" }),
    el("table", { class: "jobs" }),
  );
}

async function refreshJobs() {
  clearTimeout(jobsTimer);
  let active = false;
  for (const panel of document.querySelectorAll(".jobs-panel")) {
    const base = panel.dataset.base, own = !!panel.dataset.own;
    const status = panel.querySelector(".status");
    try {
      const { data } = await api("v1/jobs", {}, base);
      status.textContent = data.jobs.length ? "" : "no jobs yet";
      status.classList.remove("error");
      active = active || data.jobs.some((j) => j.status === "queued" || j.status === "running");
      panel.querySelector("table").replaceChildren(
        el("tr", {}, ...["job", "model", "kind", "status", "progress", "epoch", "created", ""].map((h) => el("th", { text: h }))),
        ...data.jobs.slice(0, 30).map((j) => jobRow(j, base, own)),
      );
    } catch (e) {
      status.textContent = own ? errorText(e) : `unreachable (${errorText(e)})`;
      status.classList.add("error");
    }
  }
  if (selectedJob) await showJob(selectedJob);
  if (!document.getElementById("view-jobs").hidden || active) jobsTimer = setTimeout(refreshJobs, active ? 1000 : 4000);
}

function jobRow(j, base, own) {
  const running = j.status === "queued" || j.status === "running";
  const cancel = own && running
    ? el("button", { class: "danger cancel", text: "Cancel", onclick: (evt) => { evt.stopPropagation(); cancelJob(j.id); } })
    : null;
  const selected = selectedJob && selectedJob.id === j.id;
  return el(
    "tr",
    { class: `job${selected ? " selected" : ""}`, "data-job": j.id, "data-status": j.status, onclick: () => { selectedJob = { base, id: j.id, own }; refreshJobs(); } },
    el("td", { class: "word", text: j.id.slice(0, 8) }),
    el("td", { text: j.model || "" }),
    el("td", { text: j.kind }),
    el("td", {}, el("span", { class: `badge ${j.status}`, text: j.status })),
    el("td", {}, el("span", { class: "progress" }, el("span", { style: `width:${Math.round(100 * (j.progress || 0))}%` })), ` ${Math.round(100 * (j.progress || 0))}%`),
    el("td", { text: j.epoch === null || j.epoch === undefined ? "" : String(j.epoch) }),
    el("td", { text: new Date(j.created).toLocaleTimeString() }),
    el("td", {}, cancel),
  );
}

async function cancelJob(id) {
  try {
    await api(`v1/jobs/${encodeURIComponent(id)}`, { method: "DELETE" });
    setStatus("train-status", `job ${id.slice(0, 8)} cancelled`);
  } catch (e) {
    setStatus("train-status", `cancel: ${errorText(e)}`, true);
  }
  refreshJobs();
}

const SKIP = new Set(["step", "epoch", "elapsed_s", "progress", "ts", "time", "phase"]);

// history entries are per step (x = step) or per epoch (x = epoch): one chart per numeric key
function seriesOf(history) {
  const out = new Map();
  for (const h of history || []) {
    // attention's epoch reports carry the step too, but also epoch_* / dev_* figures
    const perStep = h.step !== undefined && h.step !== null && !Object.keys(h).some((k) => /^(dev|epoch)_/.test(k));
    const x = perStep ? h.step : h.epoch;
    if (x === undefined || x === null) continue;
    for (const [k, v] of Object.entries(h)) {
      if (SKIP.has(k) || typeof v !== "number" || !Number.isFinite(v)) continue;
      const key = `${k} per ${perStep ? "step" : "epoch"}`;
      if (!out.has(key)) out.set(key, []);
      out.get(key).push([x, v]);
    }
  }
  return out;
}

function lineChart(title, points) {
  const W = 340, H = 170, L = 48, R = 10, T = 10, B = 24;
  const xs = points.map((p) => p[0]), ys = points.map((p) => p[1]);
  let [x0, x1] = [Math.min(...xs), Math.max(...xs)], [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (x0 === x1) x1 = x0 + 1;
  if (y0 === y1) { y0 -= Math.abs(y0) * 0.1 || 1; y1 += Math.abs(y1) * 0.1 || 1; }
  const sx = (x) => L + ((x - x0) / (x1 - x0)) * (W - L - R), sy = (y) => H - B - ((y - y0) / (y1 - y0)) * (H - T - B);
  const svg = el("svg:svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": title });
  svg.append(
    el("svg:line", { class: "axis", x1: L, y1: H - B, x2: W - R, y2: H - B }),
    el("svg:line", { class: "axis", x1: L, y1: T, x2: L, y2: H - B }),
    el("svg:text", { x: L - 4, y: T + 8, "text-anchor": "end", text: fmt(y1, 3) }),
    el("svg:text", { x: L - 4, y: H - B, "text-anchor": "end", text: fmt(y0, 3) }),
    el("svg:text", { x: L, y: H - 8, text: String(x0) }),
    el("svg:text", { x: W - R, y: H - 8, "text-anchor": "end", text: String(x1) }),
  );
  const d = points.map((p, i) => `${i ? "L" : "M"}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join("");
  svg.append(el("svg:path", { class: "line", d }));
  if (points.length <= 40)
    for (const [x, y] of points)
      svg.append(el("svg:circle", { cx: sx(x), cy: sy(y), r: 2.5, onmousemove: (evt) => tooltip.show(evt, `${title}\n${x}: ${fmt(y, 4)}`), onmouseleave: () => tooltip.hide() }));
  return el("div", { class: "chart", "data-series": title }, el("h4", { text: title }), svg);
}

const JOB_FIGURES = [
  "loss", "train_loss", "dev_loss", "dev_exact_match", "dev_token_error_rate", "dev_sequence_error_rate",
  "dev_alignment_accuracy", "dev_alignment_error_rate", "lr", "learning_rate",
];
const JOB_LABELS = {
  dev_token_error_rate: "dev token error rate (PER/CER)",
  dev_sequence_error_rate: "dev sequence error rate (WER)",
  dev_alignment_accuracy: "dev alignment accuracy",
  dev_alignment_error_rate: "dev AER",
};

async function showJob(sel) {
  const box = $("job-detail");
  try {
    const { data: j } = await api(`v1/jobs/${encodeURIComponent(sel.id)}`, {}, sel.base);
    box.hidden = false;
    $("job-title").textContent = `Job ${j.id.slice(0, 8)} · ${j.model || ""} · ${j.status}`;
    const parts = [`progress ${Math.round(100 * (j.progress || 0))}%`];
    if (j.epoch !== null && j.epoch !== undefined) parts.push(`epoch ${j.epoch}${j.epochs ? `/${j.epochs}` : ""}`);
    for (const k of JOB_FIGURES) if (typeof j[k] === "number") parts.push(`${JOB_LABELS[k] || k} ${fmt(j[k], 4)}`);
    if (j.loss_note) parts.push(j.loss_note);
    if (j.error) parts.push(`error: ${j.error}`);
    $("job-summary").textContent = parts.join(" · ");
    const charts = [...seriesOf(j.history).entries()].filter(([, pts]) => pts.length >= 1).map(([k, pts]) => lineChart(k, pts));
    $("job-charts").replaceChildren(...(charts.length ? charts : [el("p", { class: "status", text: "no curves yet" })]));
  } catch (e) {
    box.hidden = false;
    $("job-summary").textContent = errorText(e);
  }
}

// ------------------------------------------------------------------ start

async function main() {
  try {
    CONFIG = (await api("ui/config.json")).data;
  } catch (e) {
    document.body.prepend(el("p", { class: "status error", text: `config: ${errorText(e)}` }));
    return;
  }
  $("service-name").textContent = `${CONFIG.service} service`;
  document.title = `embattn ${CONFIG.service}`;
  buildNav();
  window.addEventListener("hashchange", route);
  route();
}

main();
