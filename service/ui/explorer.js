// The embeddings explorer (embeddings service): a word's neighbours with autocomplete, their PCA
// projection, and analogies, for a chosen model and version.

import { api, errorText } from "./api.js";
import { $, el, fmt, setStatus, tooltip } from "./dom.js";
import { fillModels } from "./models.js";
import { openapi, requestSchema } from "./openapi.js";

let exactSupported = false; // whether the API takes "exact" (exact search instead of the ANN index)

function versionQuery(select) {
  return select.value ? `?version=${encodeURIComponent(select.value)}` : "";
}

export async function initExplorer() {
  const model = $("ex-model");
  const version = $("ex-version");
  const query = requestSchema(await openapi(), "v1/models/{name}/similar");
  exactSupported = !!(query && query.properties && query.properties.exact);
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
