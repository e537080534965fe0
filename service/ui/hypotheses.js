// A translate answer's outputs as heatmap cards: what one output (or one of its n-best hypotheses)
// draws, and the n-best list whose rows switch the card's heatmap.

import { el, fmt } from "./dom.js";
import { heatmapParts } from "./heatmap.js";

// what heatmapCard draws for output o, or for one of its hypotheses h (rank k, 0 = best);
// the labels are the API's own tokens: source_tokens across, the hypothesis's output_tokens down
export function translationView(o, h, body, k) {
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
export function hypothesesCard(model, o, body) {
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
