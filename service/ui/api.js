// Talking to the services: fetch with the API token (asked for on a 401), errors (problem+json
// bodies) as ApiError, and an error as one line of text. Every URL of the own service is relative
// ("../v1/..." from ".../ui/"), so the page works behind a path prefix.

import { $ } from "./dom.js";

// the own service, relative to the page (".../ui/")
export const API = "../";
const TOKEN_KEY = "embattn-token";

export class ApiError extends Error {
  constructor(status, body) {
    const detail = body && typeof body === "object" ? body.detail || body.title : body;
    super(`${status}: ${detail || "request failed"}`);
    this.status = status;
    this.body = body;
  }
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
export async function api(path, opts = {}, base = API) {
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

export function errorText(e) {
  if (e instanceof ApiError && e.body && e.body.unknown_words) return `unknown words: ${e.body.unknown_words.join(", ")}`;
  return e.message || String(e);
}
