// The alignment viewer (attention service): decode inputs or align a given pair with one model or
// two side by side, one heatmap card per output; beam options (n-best, penalties) as the API's
// OpenAPI document offers them; the chosen models' metrics above.

import { api, errorText } from "./api.js";
import { $, el, fmt, setStatus } from "./dom.js";
import { heatmapCard } from "./heatmap.js";
import { hypothesesCard, translationView } from "./hypotheses.js";
import { fillModels, showModelInfo } from "./models.js";
import { numberBounds, openapi, requestSchema } from "./openapi.js";

// beam options the API takes: {beam_size: {min, max}, n_best: …, length_penalty: …, coverage_penalty: …}
let BEAM_OPTIONS = {};
const BEAM_INPUTS = { beam_size: "al-beam", n_best: "al-nbest", length_penalty: "al-lp", coverage_penalty: "al-cp" };

async function readBeamOptions() {
  const schema = requestSchema(await openapi(), "v1/models/{name}/translate");
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

// the decode options of the toolbar, also what a model card's Evaluate uses
function decoding() {
  const body = { decode: $("al-decode").value };
  if (body.decode === "beam") body.beam_size = Number($("al-beam").value) || 4;
  return body;
}

function showModels() {
  return showModelInfo([$("al-model").value, $("al-model2").value], $("al-metrics"), decoding);
}

export async function initAlignment() {
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
  $("al-model").addEventListener("change", showModels);
  $("al-model2").addEventListener("change", showModels);
  showModels();
  await options;
}

// the translate request of the form; throws on an input the API would refuse anyway
function translateBody(inputs) {
  const body = { inputs, ...decoding() };
  if (body.decode !== "beam") return body;
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
