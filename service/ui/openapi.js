// The API's own description of itself (its OpenAPI document), so the page offers only what the API
// takes and with its bounds. A schema is always reached from an operation (its path and method),
// through the $ref the operation holds: component names are free to change, the paths are the API.

import { api } from "./api.js";

let openapiDoc = null; // read once; {} when the document is unreadable

export async function openapi() {
  if (openapiDoc === null) {
    try {
      openapiDoc = (await api("openapi.json")).data;
    } catch (_) {
      openapiDoc = {};
    }
  }
  return openapiDoc;
}

// the node a local JSON pointer ("#/components/schemas/X") names, null if none
function pointer(doc, ref) {
  if (!ref.startsWith("#/")) return null; // another document: not followed
  let node = doc;
  for (const part of ref.slice(2).split("/")) {
    if (node === null || typeof node !== "object") return null;
    node = node[part.replace(/~1/g, "/").replace(/~0/g, "~")];
  }
  return node === undefined ? null : node;
}

// the schema `s` stands for: its $ref followed, and an optional one (anyOf [X, null]) read as X
export function deref(doc, s) {
  for (let hops = 0; s && hops < 8; hops++) {
    if (typeof s.$ref === "string") s = pointer(doc, s.$ref);
    else if (Array.isArray(s.anyOf) && s.anyOf.filter((a) => a.type !== "null").length === 1)
      s = s.anyOf.find((a) => a.type !== "null");
    else return s;
  }
  return s || null;
}

// the JSON body schema of an operation ("v1/models/{name}/translate", "post"); the path is written
// as the page's own requests are (relative), the document's key has the leading "/". null when the
// document has no such operation or body
export function requestSchema(doc, path, method = "post") {
  try {
    return deref(doc, doc.paths[`/${path}`][method].requestBody.content["application/json"].schema) || null;
  } catch (_) {
    return null;
  }
}

// the schema of a property of an object schema (followed through $ref and optional), or null
export function propertySchema(doc, schema, name) {
  const props = (schema && schema.properties) || {};
  return props[name] ? deref(doc, props[name]) : null;
}

// {min, max, default} of a numeric property, looking through anyOf (a nullable number); default is
// undefined for an option that applies in some cases only (beam_size...): the document publishes none
// (its description states it), and the page's own field holds it
export function numberBounds(prop) {
  const out = { default: prop.default };
  for (const p of [prop, ...(prop.anyOf || [])]) {
    if (p.minimum !== undefined) out.min = p.minimum;
    if (p.maximum !== undefined) out.max = p.maximum;
  }
  return out;
}
