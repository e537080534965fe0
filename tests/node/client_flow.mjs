// @ts-check
// Every operation of one service through openapi-fetch, typed by the types openapi-typescript
// generated from the service's OpenAPI document (tests/test_generated_clients.py puts this file beside
// embeddings.d.ts and attention.d.ts, type-checks it with tsc, then runs it with Node):
//
//   node client_flow.mjs embeddings|attention BASE_URL
//
// Each request sends the members its operation requires and nothing else (a few sizes aside, so that
// training stays tiny). Failures throw (exit status 1); the last line of stdout is a JSON report:
// {"called": [[METHOD, path template], ...], "problems": [{"type", "title", "status"}, ...]}.

import assert from "node:assert/strict";
import createClient from "openapi-fetch";

/** @typedef {import("./embeddings").paths} EmbeddingsPaths */
/** @typedef {import("./attention").paths} AttentionPaths */
/** @typedef {import("./embeddings").components["schemas"]["Problem"]} Problem */

const [service, baseUrl] = process.argv.slice(2);

/** @type {[string, string][]} */
const called = [];
/** @type {{type: string, title: string, status: number}[]} */
const problems = [];

/** @type {import("openapi-fetch").Middleware} */
const recorder = {
  onRequest({ request, schemaPath }) {
    called.push([request.method, schemaPath]);
    return undefined;
  },
};

/**
 * The data of an answer, once its status is the one expected.
 * @template T
 * @param {Promise<{data?: T, error?: unknown, response: Response}>} pending
 * @param {number} [status]
 * @returns {Promise<T>}
 */
async function ok(pending, status = 200) {
  const { data, error, response } = await pending;
  assert.equal(response.status, status, `${response.url}: ${response.status} ${JSON.stringify(error)}`);
  return /** @type {T} */ (data);
}

/**
 * A problem answer: its status, media type and members (type, title, status); the problem.
 * @param {Promise<{data?: unknown, error?: Problem, response: Response}>} pending
 * @param {number} status
 * @param {string} slug the end of its `type`
 * @returns {Promise<Problem>}
 */
async function problem(pending, status, slug) {
  const { error, response } = await pending;
  assert.equal(response.status, status, `${response.url}: ${response.status}`);
  assert.match(response.headers.get("content-type") ?? "", /^application\/problem\+json/);
  assert.ok(error, "no problem body");
  assert.equal(error.status, status);
  assert.ok(error.title);
  assert.ok((error.type ?? "").endsWith(`/problems/${slug}`), error.type);
  problems.push({ type: error.type ?? "", title: error.title, status: error.status });
  return error;
}

/** An octet-stream upload of a string (the body as it is, not JSON). */
const raw = {
  headers: { "Content-Type": "application/octet-stream" },
  /** @param {unknown} body */
  bodySerializer: (body) => /** @type {string} */ (body),
};

/**
 * Poll a job until it has ended; it must have succeeded.
 * @param {(id: string) => Promise<{status: string}>} getJob
 * @param {string} id
 */
async function waitJob(getJob, id) {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const job = await getJob(id);
    if (job.status !== "queued" && job.status !== "running") {
      assert.equal(job.status, "succeeded", JSON.stringify(job));
      return job;
    }
    assert.ok(Date.now() < deadline, `job ${id} still ${job.status}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const WORDS = "king queen man woman prince princess boy girl royal palace crown throne city town river sea".split(" ");

/** Sentences of WORDS, each word many times (seeded: mulberry32). */
function corpusText(n = 300) {
  let seed = 7;
  const next = () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  let text = "";
  for (let i = 0; i < n; i++) text += Array.from({ length: 8 }, () => WORDS[Math.floor(next() * WORDS.length)]).join(" ") + "\n";
  return text;
}

async function embeddingsFlow() {
  /** @type {import("openapi-fetch").Client<EmbeddingsPaths>} */
  const c = createClient({ baseUrl });
  c.use(recorder);
  /** @param {string} name */
  const path = (name) => ({ params: { path: { name } } });
  /** @param {string} id */
  const getJob = (id) => ok(c.GET("/v1/jobs/{job_id}", { params: { path: { job_id: id } } }));

  await ok(c.GET("/healthz"));
  await ok(c.GET("/readyz"));
  assert.match(await ok(c.GET("/metrics", { parseAs: "text" })), /embattn_http_requests_total/);

  const corpus = await ok(c.POST("/v1/corpora", { body: corpusText(), ...raw }), 201);
  assert.equal(corpus.sentences, 300);
  assert.deepEqual((await ok(c.GET("/v1/corpora"))).corpora.map((x) => x.id), [corpus.id]);
  assert.equal((await ok(c.GET("/v1/corpora/{name}", path(corpus.id)))).tokens, 2400);

  const w2v = await ok(c.POST("/v1/models", { body: { name: "ts-w2v", corpus_id: corpus.id } }), 202);
  await waitJob(getJob, w2v.job_id);
  const ft = { name: "ts-ft", corpus_id: corpus.id, algorithm: /** @type {const} */ ("fasttext"), params: { bucket: 2000 } };
  await waitJob(getJob, (await ok(c.POST("/v1/models", { body: ft }), 202)).job_id);
  assert.equal((await ok(c.GET("/v1/models/{name}", path("ts-w2v")))).vocab_size, WORDS.length);
  assert.ok((await ok(c.GET("/v1/models"))).models.some((m) => m.name === "ts-ft"));
  const more = { sentences: Array(5).fill("king queen royal palace crown throne") };
  await waitJob(getJob, (await ok(c.POST("/v1/models/{name}/continue", { ...path("ts-w2v"), body: more }), 202)).job_id);

  const m = path("ts-w2v");
  const similar = await ok(c.POST("/v1/models/{name}/similar", { ...m, body: { positive: ["king"] } }));
  assert.equal(similar.results.length, 10);
  assert.ok((await ok(c.POST("/v1/models/{name}/analogy", { ...path("ts-ft"), body: { a: "man", b: "king", c: "woman" } }))).results.length);
  const batch = await ok(c.POST("/v1/models/{name}/similar/batch", { ...m, body: { queries: [{ positive: ["king"] }, { positive: ["qwzx"] }] } }));
  assert.equal(batch.results[1], null);
  const [failed] = batch.errors ?? [];
  assert.ok(failed && failed.index === 1 && failed.type.endsWith("/problems/unknown-words"));
  await ok(c.POST("/v1/models/{name}/analogy/batch", { ...m, body: { queries: [{ a: "man", b: "king", c: "woman" }] } }));
  await ok(c.POST("/v1/models/{name}/similarity", { ...m, body: { pairs: [["king", "queen"]] } }));
  await ok(c.POST("/v1/models/{name}/similarity/batch", { ...m, body: { queries: [{ pairs: [["king", "queen"]] }] } }));
  const nSim = { words1: ["king"], words2: ["queen", "prince"] };
  await ok(c.POST("/v1/models/{name}/n-similarity", { ...m, body: nSim }));
  await ok(c.POST("/v1/models/{name}/n-similarity/batch", { ...m, body: { queries: [nSim] } }));
  const odd = { words: ["king", "queen", "river"] };
  assert.ok(odd.words.includes((await ok(c.POST("/v1/models/{name}/doesnt-match", { ...m, body: odd }))).word));
  await ok(c.POST("/v1/models/{name}/doesnt-match/batch", { ...m, body: { queries: [odd] } }));
  const vectors = await ok(c.POST("/v1/models/{name}/vectors", { ...path("ts-ft"), body: { words: ["king", "kingly"] } }));
  assert.equal(vectors.vectors[0].vector?.length, 100);
  assert.ok(vectors.vectors[1].oov);
  await ok(c.POST("/v1/models/{name}/vectors/batch", { ...m, body: { queries: [{ words: ["king"] }] } }));
  const sentences = { sentences: ["The king and the queen."] };
  assert.equal((await ok(c.POST("/v1/models/{name}/sentence-vectors", { ...m, body: sentences }))).vectors[0].known_tokens, 2);
  await ok(c.POST("/v1/models/{name}/sentence-vectors/batch", { ...m, body: { queries: [sentences] } }));
  const embedded = await ok(c.POST("/v1/embeddings", { body: { model: "ts-w2v", input: "The king and the queen." } }));
  assert.equal(embedded.data.length, 1);
  const items = [["king", "queen", 9], ["king", "river", 1], ["man", "woman", 8]];
  const scores = await ok(c.POST("/v1/models/{name}/evaluate", { ...m, body: { pairs: { items: /** @type {[string, string, number][]} */ (items) } } }));
  assert.ok(scores.pairs);
  assert.equal((await ok(c.GET("/v1/models/{name}/words", m))).total, WORDS.length);
  assert.equal((await ok(c.POST("/v1/models/{name}/projection", { ...m, body: { words: ["king", "queen"] } }))).points.length, 2);

  await waitJob(getJob, (await ok(c.POST("/v1/models/{name}/index", m), 202)).job_id);
  await ok(c.DELETE("/v1/models/{name}/index", m), 204);
  const text = await ok(c.GET("/v1/models/{name}/vectors", { params: { path: { name: "ts-w2v" }, query: { format: "word2vec-text" } }, parseAs: "text" }));
  assert.match(text, /^16 100\n/);
  const imported = await ok(c.POST("/v1/models/{name}/import", { ...path("ts-imported"), body: text, ...raw }), 201);
  assert.ok("vocab_size" in imported); // 201: the model (a 202 would be a job)
  assert.equal(imported.vocab_size, WORDS.length);
  await ok(c.DELETE("/v1/models/{name}", path("ts-imported")), 204);
  const versions = await ok(c.GET("/v1/models/{name}/versions", m));
  assert.deepEqual(versions.versions.map((v) => v.version), [1, 2]);
  assert.equal((await ok(c.PUT("/v1/models/{name}/current", { ...m, body: { version: 1 } }))).current, 1);
  await ok(c.DELETE("/v1/models/{name}/versions/{version}", { params: { path: { name: "ts-w2v", version: 2 } } }), 204);
  const slow = await ok(c.POST("/v1/models", { body: { name: "ts-slow", corpus_id: corpus.id, params: { epochs: 100 } } }), 202);
  await ok(c.DELETE("/v1/jobs/{job_id}", { params: { path: { job_id: slow.job_id } } }));
  assert.ok((await ok(c.GET("/v1/jobs"))).jobs.some((j) => j.id === slow.job_id));
  await ok(c.DELETE("/v1/corpora/{name}", path(corpus.id)), 204);

  await problem(c.POST("/v1/models/{name}/similar", { ...path("nope"), body: { positive: ["king"] } }), 404, "model-not-found");
  const invalid = await problem(c.POST("/v1/models/{name}/similar", { ...m, body: { positive: ["king"], topn: 0 } }), 422, "validation-error");
  assert.deepEqual(invalid.errors?.[0].loc, ["body", "topn"]);
}

async function attentionFlow() {
  /** @type {import("openapi-fetch").Client<AttentionPaths>} */
  const c = createClient({ baseUrl });
  c.use(recorder);
  /** @param {string} name */
  const path = (name) => ({ params: { path: { name } } });
  /** @param {string} id */
  const getJob = (id) => ok(c.GET("/v1/jobs/{job_id}", { params: { path: { job_id: id } } }));

  await ok(c.GET("/healthz"));
  await ok(c.GET("/readyz"));
  assert.match(await ok(c.GET("/metrics", { parseAs: "text" })), /embattn_http_requests_total/);

  const tsv = ["abc", "abcd", "bcad", "dcab", "cabd", "ddab", "abdd", "bbca", "cdda", "adcb"].map((w) => `${w}\t${[...w].reverse().join("")}\n`).join("");
  const dataset = await ok(c.POST("/v1/datasets", { body: tsv.repeat(3), ...raw }), 201);
  assert.equal(dataset.pairs, 30);
  assert.deepEqual((await ok(c.GET("/v1/datasets"))).datasets.map((d) => d.id), [dataset.id]);
  assert.ok((await ok(c.GET("/v1/datasets/{name}", path(dataset.id)))).sample);

  const tiny = { config: { hidden: 16 }, params: { epochs: 3 } };
  const task = { name: /** @type {const} */ ("reversal"), n_train: 300, n_dev: 20, n_test: 20, max_len: 6 };
  await waitJob(getJob, (await ok(c.POST("/v1/models", { body: { name: "ts-rev", task, ...tiny } }), 202)).job_id);
  const again = { name: "ts-rev", dataset_id: dataset.id, overwrite: true, ...tiny };
  await waitJob(getJob, (await ok(c.POST("/v1/models", { body: again }), 202)).job_id);
  const m = path("ts-rev");
  assert.equal((await ok(c.PUT("/v1/models/{name}/current", { ...m, body: { version: 1 } }))).current, 1);
  assert.deepEqual((await ok(c.GET("/v1/models/{name}/versions", m))).versions.map((v) => v.version), [1, 2]);
  await ok(c.DELETE("/v1/models/{name}/versions/{version}", { params: { path: { name: "ts-rev", version: 2 } } }), 204);
  assert.equal((await ok(c.GET("/v1/models/{name}", m))).version, 1);
  assert.ok((await ok(c.GET("/v1/models"))).models.some((x) => x.name === "ts-rev"));

  const greedy = await ok(c.POST("/v1/models/{name}/translate", { ...m, body: { inputs: ["5/3/2026", "abc"] } }));
  assert.equal(greedy.decode, "greedy");
  assert.equal(greedy.beam_size, 1);
  const beam = await ok(c.POST("/v1/models/{name}/translate", { ...m, body: { inputs: ["abc"], decode: "beam" } }));
  assert.equal(beam.beam_size, 4);
  const aligned = await ok(c.POST("/v1/models/{name}/align", { ...m, body: { pairs: [["abcd", "dcba"]] } }));
  assert.equal(aligned.alignments[0].attention.length, 4);
  const heatmap = c.GET("/v1/models/{name}/attention.{fmt}", { params: { path: { name: "ts-rev", fmt: "png" }, query: { input: "abcd", target: "dcba" } }, parseAs: "arrayBuffer" });
  const png = new Uint8Array(await ok(heatmap));
  assert.deepEqual([...png.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47]);
  const scores = await ok(c.POST("/v1/models/{name}/evaluate", { ...m, body: { split: "test" } }));
  assert.equal(scores.n, 20);

  const slow = await ok(c.POST("/v1/models", { body: { name: "ts-slow", task: { name: "dates" }, params: { epochs: 50 } } }), 202);
  await ok(c.DELETE("/v1/jobs/{job_id}", { params: { path: { job_id: slow.job_id } } }));
  assert.ok((await ok(c.GET("/v1/jobs"))).jobs.some((j) => j.id === slow.job_id));
  await ok(c.DELETE("/v1/datasets/{name}", path(dataset.id)), 204);

  await problem(c.POST("/v1/models/{name}/translate", { ...path("nope"), body: { inputs: ["abc"] } }), 404, "model-not-found");
  const ignored = await problem(c.POST("/v1/models/{name}/translate", { ...m, body: { inputs: ["abc"], beam_size: 3 } }), 422, "validation-error");
  assert.ok(ignored.detail?.includes("beam_size applies to decode 'beam' only"));
  await ok(c.DELETE("/v1/models/{name}", m), 204);
  await problem(c.GET("/v1/models/{name}", m), 404, "model-not-found");
}

if (service === "embeddings") await embeddingsFlow();
else if (service === "attention") await attentionFlow();
else throw new Error(`unknown service ${service}`);
console.log(JSON.stringify({ called, problems }));
