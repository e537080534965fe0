// Navigation: the views each service's page has, the nav bar (with a link to the peer's view), and
// which view the URL's hash ("#jobs") shows.

import { $, el } from "./dom.js";

// per service: [view, label], the first one shown when the hash names none of them
const VIEWS = {
  embeddings: [["explorer", "Embeddings explorer"], ["jobs", "Jobs"]],
  attention: [["alignment", "Alignment viewer"], ["jobs", "Jobs"]],
};
const PEER_VIEW = { embeddings: ["explorer", "Embeddings explorer"], attention: ["alignment", "Alignment viewer"] };
const started = {};

// `views`: {name: {start, again}}; start() runs the first time a view is shown, again() (if any)
// each time after
function route(config, views) {
  const names = VIEWS[config.service] || [];
  let name = location.hash.slice(1);
  if (!names.some(([v]) => v === name)) name = names[0][0];
  for (const s of document.querySelectorAll(".view")) s.hidden = s.id !== `view-${name}`;
  for (const a of $("nav").querySelectorAll("a[data-view]")) a.classList.toggle("active", a.dataset.view === name);
  if (!started[name]) {
    started[name] = true;
    views[name].start();
  } else if (views[name].again) views[name].again();
}

function buildNav(config) {
  const nav = $("nav");
  for (const [v, label] of VIEWS[config.service] || []) nav.append(el("a", { href: `#${v}`, "data-view": v, text: label }));
  if (config.peer && PEER_VIEW[config.peer.service]) {
    const [v, label] = PEER_VIEW[config.peer.service];
    nav.append(el("a", { href: `${config.peer.url}/ui/#${v}`, text: `${label} ↗`, title: `on the ${config.peer.service} service` }));
  }
}

// the nav bar, then the view of the hash now and on each change
export function startNav(config, views) {
  buildNav(config);
  const show = () => route(config, views);
  window.addEventListener("hashchange", show);
  show();
}
