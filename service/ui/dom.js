// The page's small DOM helpers: elements by id, building elements (HTML and SVG), status lines,
// the one tooltip, downloads of generated text, and numbers as the page shows them.

const SVGNS = "http://www.w3.org/2000/svg";

export const $ = (id) => document.getElementById(id);

// el("a", {href, text, onclick}, ...children); "svg:rect" makes an SVG element. null/undefined/false
// attributes and null/undefined children are skipped, so callers can write `cond ? x : null`.
// `style` is set through the CSSOM, never as an attribute: the page's CSP has no 'unsafe-inline'.
export function el(tag, attrs = {}, ...children) {
  const e = tag.startsWith("svg:") ? document.createElementNS(SVGNS, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") e.setAttribute("class", v);
    else if (k === "text") e.textContent = v;
    else if (k === "style") e.style.cssText = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

export function fmt(x, digits = 3) {
  if (x === null || x === undefined || Number.isNaN(x)) return "–";
  if (typeof x !== "number") return String(x);
  if (x !== 0 && Math.abs(x) < 1e-3) return x.toExponential(2);
  return x.toFixed(digits);
}

export function setStatus(id, text, error = false) {
  const s = $(id);
  s.textContent = text;
  s.classList.toggle("error", error);
}

export const tooltip = {
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

export function download(filename, text, type) {
  const a = el("a", { href: URL.createObjectURL(new Blob([text], { type })), download: filename });
  document.body.append(a);
  a.click();
  a.remove();
}
