// embattn web page, the entry module: plain ES modules, no build step, nothing from another host.
// It reads /ui/config.json (which service this is, and its peer), then shows the view the URL's
// hash names. Every import is relative ("./api.js"), so the page also works below a path prefix.

import { api, errorText } from "./api.js";
import { $, el } from "./dom.js";
import { initAlignment } from "./alignment.js";
import { initExplorer } from "./explorer.js";
import { initJobs, refreshJobs } from "./jobs.js";
import { startNav } from "./nav.js";

async function main() {
  let config;
  try {
    config = (await api("ui/config.json")).data;
  } catch (e) {
    document.body.prepend(el("p", { class: "status error", text: `config: ${errorText(e)}` }));
    return;
  }
  $("service-name").textContent = `${config.service} service`;
  document.title = `embattn ${config.service}`;
  startNav(config, {
    explorer: { start: initExplorer },
    alignment: { start: initAlignment },
    jobs: { start: () => initJobs(config), again: refreshJobs },
  });
}

main();
