// The attention heatmap card: one output's attention weights as an SVG grid (source tokens across,
// output tokens down) with the argmax links, gold links and their precision/recall/AER, a hover
// tooltip, and downloads (PNG/SVG from the API's image endpoints, JSON, Pharaoh).

import { API } from "./api.js";
import { download, el, fmt, tooltip } from "./dom.js";

// precision, recall and AER (Och & Ney) of predicted links against gold ones: the page's own figures
// for an answer that has none
function alignmentScores(pred, gold) {
  const key = ([s, t]) => `${s}-${t}`;
  const p = new Set(pred.map(key)), g = new Set(gold.map(key));
  const hit = [...p].filter((x) => g.has(x)).length;
  const precision = p.size ? hit / p.size : 0, recall = g.size ? hit / g.size : 0;
  const aer = p.size + g.size ? 1 - (2 * hit) / (p.size + g.size) : 0;
  return { precision, recall, aer };
}

// `a`: {source, target, src/out (the tokens across/down), attention, links, pharaoh, scores, gold,
// alignmentAccuracy, meta (a line of figures), raw (the JSON download), query (the image endpoints'
// query), rank}; made by translationView (hypotheses.js) and by runAlignment (alignment.js)
export function heatmapCard(model, a) {
  return el("div", { class: "card heatmap-card" }, ...heatmapParts(model, a));
}

// the contents of a heatmap card: title, meta line, [extra, e.g. the hypotheses], scores, heatmap, downloads
export function heatmapParts(model, a, extra = null) {
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
