"""``POST /v1/embeddings`` (OpenAI-compatible) against ``/v1/models/{name}/sentence-vectors``: latency
of one input from one client, and one request of 2,048 inputs.

    .venv/bin/python bench/openai_bench.py [--calls 300] [--vocab 100000] [--dim 100]

Starts the embeddings service (``python -m service embeddings``, default settings, the ``default``
model trained on gensim's Lee corpus at start-up), imports ``--vocab`` x ``--dim`` synthetic vectors
(alphabetic words, so the ``simple`` tokenizer keeps them; an imported vocabulary is memory-mapped,
:mod:`models.embeddings.mapped_vocab`, a trained one is a dict) and measures on each model, one
client, one request at a time, the p50 / p90 over ``--calls`` calls of a 10-word sentence (the cases
take turns):

* the official ``openai`` SDK, ``encoding_format`` omitted (it asks for base64) and ``"float"``;
* plain ``httpx`` to ``/v1/embeddings`` (float) and to ``/sentence-vectors`` (its defaults), so the
  route itself is compared with the sentence route without the SDK's own cost;

then one request of 2,048 sentences through each (best of 3). Prints a table; nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.helpers import Server, wait_job  # noqa: E402


def alpha_words(n: int) -> list[str]:
    """``n`` distinct alphabetic words (``xa``, ``xb``, … in base 26)."""
    out = []
    for i in range(n):
        word = ""
        while True:
            word = chr(ord("a") + i % 26) + word
            i //= 26
            if i == 0:
                break
        out.append("x" + word)
    return out


def write_vectors(path: Path, words: list[str], dim: int) -> None:
    vectors = np.random.default_rng(0).standard_normal((len(words), dim)).astype("<f4")
    with open(path, "wb") as f:
        f.write(f"{len(words)} {dim}\n".encode())
        for word, vec in zip(words, vectors, strict=True):
            f.write(word.encode() + b" " + vec.tobytes() + b"\n")


def timed(cases: list[tuple[str, Callable[[], object]]], calls: int) -> dict[str, list[float]]:
    """Milliseconds of ``calls`` calls of each case, the cases taking turns (so a busy moment of the
    machine costs each the same)."""
    for _, fn in cases:
        for _ in range(20):  # warm up
            fn()
    out: dict[str, list[float]] = {label: [] for label, _ in cases}
    for _ in range(calls):
        for label, fn in cases:
            start = time.perf_counter()
            fn()
            out[label].append((time.perf_counter() - start) * 1000)
    return out


def best_of(fn: Callable[[], object], n: int = 3) -> float:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times) * 1000


def main() -> None:
    import openai

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=300)
    ap.add_argument("--vocab", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=100)
    args = ap.parse_args()

    words = alpha_words(args.vocab)
    env = {"EMBEDDINGS_TRAIN_DEFAULT": "true"}  # `default`: Word2Vec on gensim's Lee corpus, 100 dims
    with tempfile.TemporaryDirectory() as tmp, Server("embeddings", Path(tmp) / "data", env=env) as srv:
        path = Path(tmp) / "vectors.bin"
        write_vectors(path, words, args.dim)
        with open(path, "rb") as f:
            r = httpx.post(f"{srv.url}/v1/models/big/import?format=word2vec-binary", content=f, timeout=600)
        r.raise_for_status()
        http = httpx.Client(base_url=srv.url, timeout=120)
        if r.status_code == 202:  # a large file is imported by a job
            assert wait_job(http, r.json()["job_id"], timeout=600)["status"] == "succeeded"
        lee = [w["word"] for w in http.get("/v1/models/default/words?limit=1000").json()["words"]]
        lee = [w for w in lee if w.isalpha() and 2 <= len(w) <= 15]
        sdk = openai.OpenAI(base_url=srv.url + "/v1", api_key="unused", max_retries=0)
        for model, vocab, what in (
            ("big", words, f"imported {args.vocab:,} x {args.dim} (memory-mapped vocabulary)"),
            ("default", lee, "trained on Lee, 100 dims (in-memory vocabulary)"),
        ):
            rng = np.random.default_rng(1)
            texts = [" ".join(vocab[j] for j in rng.integers(0, len(vocab), 10)) for _ in range(2048)]
            print(f"\n== {model}: {what}")
            compare(sdk, http, model, texts, args.calls)


def compare(sdk, http: httpx.Client, model: str, texts: list[str], calls: int) -> None:
    """The table of one model: one input, then 2,048 inputs, through each client and route."""

    def route(body: dict) -> Callable[[], object]:
        return lambda: http.post("/v1/embeddings", json={"model": model, **body}).raise_for_status()

    def sentence_route(sentences: list[str]) -> Callable[[], object]:
        return lambda: http.post(
            f"/v1/models/{model}/sentence-vectors", json={"sentences": sentences}
        ).raise_for_status()

    def cases(inputs: str | list[str]) -> list[tuple[str, Callable[[], object]]]:
        return [
            ("SDK, base64 (its default)", lambda: sdk.embeddings.create(model=model, input=inputs)),
            ("SDK, float", lambda: sdk.embeddings.create(model=model, input=inputs, encoding_format="float")),
            ("httpx /v1/embeddings, float", route({"input": inputs})),
            ("httpx /v1/embeddings, base64", route({"input": inputs, "encoding_format": "base64"})),
            ("httpx /sentence-vectors", sentence_route(inputs if isinstance(inputs, list) else [inputs])),
        ]

    print(f"one 10-word input, one client, {calls} calls   p50 ms   p90 ms")
    for label, ms in timed(cases(texts[0]), calls).items():
        ms.sort()
        print(f"  {label:40} {statistics.median(ms):8.2f} {ms[int(0.9 * len(ms))]:8.2f}")
    print("one request of 2,048 inputs (10 words each), best of 3")
    for label, fn in cases(texts):
        print(f"  {label:40} {best_of(fn):8.0f} ms")


if __name__ == "__main__":
    main()
