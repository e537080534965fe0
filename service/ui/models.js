// The service's models: a <select> of them, and a model's info card with its stored dev/test
// metrics (PER/CER, WER, AER, …) and an Evaluate button that adds a column computed now.

import { api, errorText } from "./api.js";
import { el, fmt } from "./dom.js";

// fill `select` with the service's models, keeping the selection if that model is still there
export async function fillModels(select, { allowNone = false } = {}) {
  const { data } = await api("v1/models");
  const previous = select.value;
  select.replaceChildren();
  if (allowNone) select.append(el("option", { value: "", text: "— none —" }));
  for (const m of data.models) select.append(el("option", { value: m.name, text: m.name }));
  if ([...select.options].some((o) => o.value === previous)) select.value = previous;
  return data.models;
}

// ------------------------------------------------ metrics: names, values, table

// the rows in this order, then any other key alphabetically
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

// ------------------------------------------------ the info card

// `decoding()`: the decode options an Evaluate click uses ({decode, beam_size?}), read at the click
function metricsCard(m, decoding) {
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
      const body = { split: split.value, ...decoding() };
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

let infoSeq = 0; // only the latest call fills the box: a slower earlier one must not overwrite it

// one info card per named model (empty names and repeats dropped) into `box`
export async function showModelInfo(names, box, decoding) {
  const unique = [...new Set(names.filter(Boolean))];
  const mine = ++infoSeq;
  const cards = [];
  for (const name of unique) {
    try {
      const { data } = await api(`v1/models/${encodeURIComponent(name)}`);
      cards.push(metricsCard(data, decoding));
    } catch (e) {
      cards.push(el("div", { class: "card model-info", "data-model": name }, el("h2", { text: name }), el("p", { class: "status error", text: errorText(e) })));
    }
  }
  if (mine === infoSeq) box.replaceChildren(...cards);
}
