// The jobs view (both services): train a small model, the jobs of this service and of its peer
// (read cross-origin), cancelling one, and a chosen job's figures and curves.

import { API, api, errorText } from "./api.js";
import { $, el, fmt, setStatus, tooltip } from "./dom.js";
import { openapi, propertySchema, requestSchema } from "./openapi.js";

let selectedJob = null; // {base, id, own}
let jobsTimer = null;
let thisService = null; // "embeddings" or "attention": only attention training jobs can keep their best checkpoint

// `config`: /ui/config.json (this service and its peer)
export function initJobs(config) {
  thisService = config.service;
  const fields = $("train-fields");
  if (config.service === "embeddings") {
    fields.append(el("label", {}, "sentences ", el("input", { id: "train-text", value: "the cat sat on the mat. the dog sat on the log", size: 40 })));
  } else {
    const sel = el("select", { id: "train-task" }, ...["reversal", "copy", "dates"].map((t) => el("option", { value: t, text: t })));
    fields.append(el("label", {}, "task ", sel));
    // the built-in tasks the API knows (g2p too, where it has it), from its OpenAPI document:
    // the task's name in the training request's body
    openapi().then((doc) => {
      const task = propertySchema(doc, requestSchema(doc, "v1/models"), "task");
      const name = propertySchema(doc, task, "name");
      const names = name && name.enum;
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
      config.service === "embeddings"
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
  panels.append(jobsPanel(config.service, API, true));
  if (config.peer) panels.append(jobsPanel(config.peer.service, `${config.peer.url}/`, false));
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

export async function refreshJobs() {
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
  if (!$("view-jobs").hidden || active) jobsTimer = setTimeout(refreshJobs, active ? 1000 : 4000);
}

function jobRow(j, base, own) {
  const running = j.status === "queued" || j.status === "running";
  const cancel = own && running
    ? el("button", { class: "danger cancel", text: "Cancel", onclick: (evt) => { evt.stopPropagation(); cancelJob(j.id); } })
    : null;
  // DELETE ?keep=best: training stops, and its best checkpoint so far is published as a new version
  const keep = own && j.status === "running" && thisService === "attention"
    ? el("button", { class: "keep", text: "Stop, keep best", title: "stop training and publish the best checkpoint so far", onclick: (evt) => { evt.stopPropagation(); cancelJob(j.id, "best"); } })
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
    el("td", {}, cancel, keep),
  );
}

async function cancelJob(id, keep = "nothing") {
  try {
    const query = keep === "nothing" ? "" : `?keep=${keep}`;
    const { data } = await api(`v1/jobs/${encodeURIComponent(id)}${query}`, { method: "DELETE" });
    setStatus("train-status", keep === "nothing" ? `job ${id.slice(0, 8)} cancelled` : `job ${id.slice(0, 8)} ${data.status} (keeping its best checkpoint)`);
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
