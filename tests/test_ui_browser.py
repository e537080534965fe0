"""The web page /ui in a real headless browser (Debian's chromium driven by Playwright).

Both services run as real uvicorn servers (``python -m service ...``) on free loopback ports, each
knowing the other as its peer; the attention service has an API token. The module trains tiny
models through the API, then clicks through each view as a user would: the explorer's
autocomplete, neighbours, projection tooltip and analogy; the alignment heatmaps (hover tooltip
with a weight, gold links with precision/recall/AER, two models side by side); the jobs of both
services with their curves; cancelling a job, which asks for the token on the 401. Every request
the browser makes must stay on 127.0.0.1.

With ``UI_SCREENSHOTS_DIR`` set, each view is also saved as a PNG there (bench/ui_screenshots.py).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from gensim.test.utils import datapath

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is missing (apt-get install chromium; .ci/run does)"
)
try:  # a dev dependency: missing means a broken install, not a reason to skip (see the browser fixture)
    from playwright import sync_api
except ImportError:  # pragma: no cover
    sync_api = None

SHOTS = os.environ.get("UI_SCREENSHOTS_DIR")
TOKEN = secrets.token_hex(16)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(fn, timeout=60.0, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = fn()
            if value:
                return value
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def wait_job(client: httpx.Client, job_id: str, timeout=300.0) -> dict:
    def ended():
        job = client.get(f"/v1/jobs/{job_id}?history=false").json()
        return job if job["status"] not in ("queued", "running") else None

    job = wait_for(ended, timeout, f"job {job_id}")
    assert job["status"] == "succeeded", job
    wait_for(lambda: client.get(f"/v1/models/{job['model']}").status_code == 200, 20, "model loaded")
    return job


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    data = tmp_path_factory.mktemp("ui")
    ports = {"embeddings": free_port(), "attention": free_port()}
    urls = {k: f"http://127.0.0.1:{p}" for k, p in ports.items()}
    env = {
        **os.environ,
        "EMBEDDINGS_TRAIN_DEFAULT": "false",
        "ATTENTION_TRAIN_DEFAULT": "false",
        "EMBEDDINGS_UI_PEER_URL": urls["attention"],
        "ATTENTION_UI_PEER_URL": urls["embeddings"],
        "ATTENTION_API_TOKEN": TOKEN,
        "EMBEDDINGS_LOG_LEVEL": "warning",
        "ATTENTION_LOG_LEVEL": "warning",
    }
    env.pop("EMBEDDINGS_API_TOKEN", None)
    procs = []
    try:
        for service, port in ports.items():
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "service", service, "--port", str(port), "--data-dir", str(data)],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        emb = httpx.Client(base_url=urls["embeddings"], timeout=30)
        att = httpx.Client(
            base_url=urls["attention"], timeout=30, headers={"Authorization": f"Bearer {TOKEN}"}
        )
        for c in (emb, att):
            wait_for(lambda c=c: c.get("/readyz").status_code == 200, 60, "readiness")
        with open(datapath("lee_background.cor"), encoding="utf-8") as f:
            lines = [next(f).strip() for _ in range(300 if SHOTS else 150)]
        r = emb.post(
            "/v1/models",
            json={
                "name": "lee",
                "algorithm": "word2vec",
                "sentences": lines,
                "params": {"vector_size": 24, "min_count": 2, "epochs": 4, "workers": 1, "seed": 1, "sg": 1},
            },
        )
        assert r.status_code == 202, r.text
        emb_job = r.json()["job_id"]
        # Tiny models for the test; screenshots get models that have learnt something.
        n_train, epochs, hidden = (3000, 8, 48) if SHOTS else (300, 3, 16)
        task = {"name": "reversal", "n_train": n_train, "n_dev": 30, "n_test": 10, "min_len": 3, "max_len": 6}
        att_jobs = []
        for name, seed in (("rev", 1), ("rev2", 2)):
            r = att.post(
                "/v1/models",
                json={
                    "name": name,
                    "task": {**task, "seed": seed},
                    "config": {"hidden": hidden, "emb_dim": 16},
                    "params": {"epochs": epochs, "batch_size": 32, "seed": seed},
                },
            )
            assert r.status_code == 202, r.text
            att_jobs.append(r.json()["job_id"])
        # A tiny g2p model: letters in, phonemes (whitespace-separated) out.
        r = att.post(
            "/v1/models",
            json={
                "name": "g2p",
                "task": {"name": "g2p", "n_train": 300, "n_dev": 20, "n_test": 20, "max_len": 8},
                # Input feeding: after one epoch this tiny model already emits phonemes (without it,
                # a model this small first learns to stop at once, and an empty output has no rows).
                "config": {"emb_dim": 8, "hidden": 16, "input_feeding": True},
                "params": {"epochs": 1, "batch_size": 32},
            },
        )
        assert r.status_code == 202, r.text
        g2p_job = r.json()["job_id"]
        wait_job(emb, emb_job)
        for job in [*att_jobs, g2p_job]:
            wait_job(att, job)
        yield {"urls": urls, "emb": emb, "att": att, "emb_job": emb_job, "att_jobs": att_jobs}
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()


@pytest.fixture(scope="module")
def browser():
    assert sync_api is not None, "playwright is not installed: .venv/bin/pip install -e '.[dev]'"
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    p = context.new_page()
    p.set_default_timeout(15_000)
    requests: list[str] = []
    errors: list[str] = []
    p.on("request", lambda req: requests.append(req.url))
    p.on("pageerror", lambda exc: errors.append(str(exc)))
    # the page runs under its Content-Security-Policy (service/kit/ui.py): nothing it does may be refused
    p.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
    p.requests = requests  # type: ignore[attr-defined]
    yield p
    context.close()
    off = [
        u for u in requests if urlsplit(u).scheme in ("http", "https") and urlsplit(u).hostname != "127.0.0.1"
    ]
    assert not off, f"requests left 127.0.0.1: {off}"
    assert all(urlsplit(u).scheme in ("http", "https", "blob", "data") for u in requests), requests
    assert not errors, f"JavaScript errors: {errors}"


def body_schema(client: httpx.Client, path: str, method: str = "post") -> dict:
    """The JSON body schema of an operation of the service's OpenAPI document, reached through the
    operation's ``$ref`` as the page reaches it: a component's name may change, the path is the API."""
    doc = client.get("/openapi.json").json()
    ref = doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    node = doc
    for key in ref.removeprefix("#/").split("/"):  # a JSON pointer: "#/components/schemas/X"
        node = node[key.replace("~1", "/").replace("~0", "~")]
    return node


def wait_text(page, selector: str, text: str) -> None:
    """Wait until the element's text contains ``text`` (Playwright's ``expect``: ``wait_for_function``
    evaluates a string, which the page's CSP -- no 'unsafe-eval' -- refuses)."""
    sync_api.expect(page.locator(selector)).to_contain_text(text, timeout=15_000)


def shot(page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"ui-{name}.png"), full_page=True)


def test_explorer_neighbours_autocomplete_projection_analogy(servers, page):
    page.goto(servers["urls"]["embeddings"] + "/ui")  # redirected to /ui/
    assert page.url.endswith("/ui/")
    page.wait_for_selector("#ex-model option[value=lee]", state="attached")
    assert page.locator("#nav a.active").inner_text() == "Embeddings explorer"
    page.locator("#ex-word").press_sequentially("presid")
    first = page.locator("#ex-suggest li").first
    first.wait_for()
    suggestions = page.locator("#ex-suggest li").all_inner_texts()
    assert suggestions and all(s.startswith("presid") for s in suggestions), suggestions
    word = suggestions[0]
    first.dispatch_event("mousedown")
    rows = page.locator("#ex-results tr.neighbour")
    rows.first.wait_for()
    expected = servers["emb"].post("/v1/models/lee/similar", json={"positive": [word], "topn": 10}).json()
    assert [r.split("\t")[0].strip() for r in rows.all_inner_texts()] == [
        n["word"] for n in expected["results"]
    ]
    assert page.locator("#ex-results .bar > span").count() == 10
    # the bars' widths are set through the CSSOM, which the page's CSP allows (a style attribute it would not)
    assert page.locator("#ex-results .bar > span").first.evaluate("e => e.style.width").endswith("%")
    csp = page.evaluate("fetch('./').then(r => r.headers.get('content-security-policy'))")
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    status = page.locator("#ex-status").inner_text()
    assert f"neighbours of “{word}” in" in status and " ms" in status
    # The exact/index switch is shown only if the API takes "exact".
    schema = body_schema(servers["emb"], "/v1/models/{name}/similar")
    assert page.locator("#ex-exact-label").is_visible() == ("exact" in schema["properties"])
    # Projection: the word and its 10 neighbours, hover shows the word.
    page.locator("#ex-projection circle").nth(10).wait_for(state="attached")
    assert page.locator("#ex-projection circle").count() == 11
    assert "explained variance" in page.locator("#ex-variance").inner_text()
    page.locator("#ex-projection circle.query").hover()
    assert page.locator("#tooltip").is_visible() and word in page.locator("#tooltip").inner_text()
    # Analogy.
    a, b, c = [n["word"] for n in expected["results"][:3]]
    page.fill("#an-a", a)
    page.fill("#an-b", b)
    page.fill("#an-c", c)
    page.click("#an-form button")
    page.locator("#an-results tr.neighbour").first.wait_for()
    assert f"{a} : {b} :: {c} :" in page.locator("#an-status").inner_text()
    # An unknown word is reported, not crashed on.
    page.fill("#ex-word", "qwzxqwzx")
    page.click("#ex-form button")
    wait_text(page, "#ex-status", "unknown words")
    page.fill("#ex-word", word)
    page.click("#ex-form button")
    wait_text(page, "#ex-status", "neighbours")
    page.locator("#ex-projection circle.query").hover()
    shot(page, "embeddings")


def test_alignment_heatmaps_hover_gold_and_side_by_side(servers, page):
    page.goto(servers["urls"]["attention"] + "/ui/#alignment")
    page.wait_for_selector("#al-model option[value=rev]", state="attached")
    page.select_option("#al-model", "rev")
    page.select_option("#al-model2", "rev2")
    page.fill("#al-inputs", "abc4\nxyz")
    page.click("#al-form button[type=submit]")
    page.locator(".column[data-model=rev2] .heatmap-card").nth(1).wait_for()
    assert page.locator(".column").count() == 2
    out = servers["att"].post("/v1/models/rev/translate", json={"inputs": ["abc4"]}).json()["outputs"][0]
    card = page.locator(".column[data-model=rev] .heatmap-card").first
    cells = card.locator("rect.cell")
    assert cells.count() == len(out["source_tokens"]) * len(out["output_tokens"])
    assert card.locator("circle.argmax").count() == len(out["links"])
    # A given pair with gold links: overlay and precision/recall/AER from /align.
    page.select_option("#al-model2", "")
    align_in_page(page, "abc", "cba", "0-2 1-1 2-0")
    card = page.locator(".heatmap-card").first
    card.locator("rect.gold").first.wait_for(state="attached")
    assert card.locator("rect.gold").count() == 3
    scores = card.locator(".scores").inner_text()
    assert "precision" in scores and "recall" in scores and "AER" in scores
    aligned = (
        servers["att"].post("/v1/models/rev/align", json={"pairs": [["abc", "cba"]]}).json()["alignments"][0]
    )
    cells = card.locator("rect.cell")
    assert cells.count() == 9
    cells.nth(1).hover()  # row 0, column 1
    tip = page.locator("#tooltip")
    assert tip.is_visible() and "weight" in tip.inner_text()
    weight = float(tip.inner_text().split("weight")[1])
    assert abs(weight - aligned["attention"][0][1]) < 1e-3
    assert card.locator("rect.band[visibility=visible]").count() == 2  # row and column highlighted
    assert card.locator("text.hl").count() == 2
    png = card.locator(".downloads a", has_text="PNG").get_attribute("href")
    assert png.startswith("../v1/models/rev/attention.png?")
    img = page.request.get(servers["urls"]["attention"] + "/ui/" + png)
    assert img.headers["content-type"] == "image/png", (img.status, img.text())
    with page.expect_download() as dl:
        card.locator(".downloads a", has_text="Pharaoh").click()
    assert Path(dl.value.path()).read_text().strip() == aligned["pharaoh"]
    # Back to a side-by-side decode for the screenshot.
    page.select_option("#al-mode", "translate")
    page.select_option("#al-model2", "rev2")
    page.select_option("#al-decode", "beam")
    page.fill("#al-inputs", "abc4")
    page.click("#al-form button[type=submit]")
    page.locator(".column[data-model=rev2] .heatmap-card").first.wait_for()
    align_in_page(page, "abc4", "4cba", "0-3 1-2 2-1 3-0")
    page.locator(".column[data-model=rev2] rect.gold").first.wait_for(state="attached")
    page.locator(".column[data-model=rev] rect.cell").nth(5).hover()
    shot(page, "alignment")


def align_in_page(page, source: str, target: str, gold: str) -> None:
    """Align one pair in the viewer's form (``gold``: Pharaoh links, "" for none) and submit it."""
    page.select_option("#al-mode", "align")
    page.fill("#al-source", source)
    page.fill("#al-target", target)
    page.fill("#al-gold", gold)
    page.click("#al-form button[type=submit]")


def labels(card, axis: str) -> list[str]:
    """The heatmap's labels as drawn: rows (outputs) or cols (sources); "␣" back to a space."""
    return [t.replace("␣", " ") for t in card.locator(f"svg text.{axis}-label").all_text_contents()]


def numbers(texts: list[str]) -> list[float]:
    return [float(t) for t in texts]


def test_alignment_n_best_hypotheses_switch_the_heatmap(servers, page):
    att = servers["att"]
    schema = body_schema(att, "/v1/models/{name}/translate")["properties"]
    bodies: list[dict] = []
    page.on(
        "request",
        lambda req: bodies.append(json.loads(req.post_data)) if req.url.endswith("/translate") else None,
    )
    page.goto(servers["urls"]["attention"] + "/ui/#alignment")
    page.wait_for_selector("#al-model option[value=rev]", state="attached")
    page.select_option("#al-model", "rev")
    # n-best and the penalties: beam only, bounds from the OpenAPI document.
    for box in ("#al-nbest", "#al-lp", "#al-cp"):
        assert not page.locator(box).is_visible()
    page.select_option("#al-decode", "beam")
    for box in ("#al-nbest", "#al-lp", "#al-cp"):
        page.locator(box).wait_for()  # shown once the page has read the OpenAPI document
        assert page.locator(box).is_enabled()
    assert float(page.locator("#al-nbest").get_attribute("max")) == schema["n_best"]["maximum"]
    assert float(page.locator("#al-cp").get_attribute("max")) == schema["coverage_penalty"]["maximum"]
    # Beam options publish no default (a generated client would send it with a greedy decode): the
    # page shows the defaults their descriptions state.
    for key in ("beam_size", "n_best", "coverage_penalty"):
        assert "default" not in schema[key] and "default" in schema[key]["description"]
    assert page.locator("#al-beam").input_value() == "4" and "default 4" in schema["beam_size"]["description"]
    assert page.locator("#al-nbest").input_value() == "1" and "default 1" in schema["n_best"]["description"]
    assert page.locator("#al-cp").get_attribute("placeholder") == "0"
    page.fill("#al-beam", "4")
    page.fill("#al-nbest", "3")
    page.fill("#al-inputs", "abc4")
    page.click("#al-form button[type=submit]")
    card = page.locator(".column[data-model=rev] .hyp-card").first
    card.locator("tr.hyp").nth(2).wait_for()
    assert bodies[-1] == {"inputs": ["abc4"], "decode": "beam", "beam_size": 4, "n_best": 3}
    want = att.post("/v1/models/rev/translate", json=bodies[-1]).json()["outputs"][0]
    hyps = want["hypotheses"]
    assert len(hyps) == 3 and card.locator("tr.hyp").count() == 3
    assert card.locator("tr.hyp td.hyp-output").all_inner_texts() == [h["output"] or "(empty)" for h in hyps]
    got = numbers(card.locator("tr.hyp td.hyp-score").all_inner_texts())
    assert got == pytest.approx([h["score"] for h in hyps], abs=2e-3)
    got = numbers(card.locator("tr.hyp td.hyp-logp").all_inner_texts())
    assert got == pytest.approx([h["log_prob"] for h in hyps], abs=2e-3)
    # The best one is shown first: its tokens label the rows, the source tokens the columns.
    assert card.get_attribute("data-selected") == "1"
    assert "selected" in card.locator("tr.hyp").first.get_attribute("class")
    assert labels(card, "row") == hyps[0]["output_tokens"]
    assert labels(card, "col") == (want["source_tokens"] if hyps[0]["output_tokens"] else [])  # none if empty
    # A click on the second shows its own heatmap: tokens, cells, weights, links.
    card.locator("tr.hyp").nth(1).click()
    assert card.get_attribute("data-selected") == "2"
    second = hyps[1]
    assert second["output_tokens"] != hyps[0]["output_tokens"]
    assert labels(card, "row") == second["output_tokens"]
    assert labels(card, "col") == (want["source_tokens"] if second["output_tokens"] else [])
    assert card.locator("h3").inner_text() == f"abc4 → {second['output']}"
    assert "hypothesis 2" in card.locator(".meta").inner_text()
    cells = card.locator("rect.cell")
    assert cells.count() == len(want["source_tokens"]) * len(second["output_tokens"])
    if second["output_tokens"]:
        assert float(cells.first.get_attribute("data-weight")) == pytest.approx(
            second["attention"][0][0], abs=1e-6
        )
    assert card.locator("circle.argmax").count() == len(second["links"])
    svg = card.locator(".downloads a", has_text="SVG").get_attribute("href")
    assert "target=" in svg  # a lower hypothesis is drawn by forcing its own output
    r = page.request.get(servers["urls"]["attention"] + "/ui/" + svg)
    assert r.status == 200 and r.headers["content-type"].startswith("image/svg"), r.text()
    # A length penalty goes to the API and its ranking comes back.
    page.fill("#al-lp", "0.6")
    page.click("#al-form button[type=submit]")
    wait_text(page, "#al-status", "ms")
    assert bodies[-1]["length_penalty"] == 0.6 and "coverage_penalty" not in bodies[-1]
    want = att.post("/v1/models/rev/translate", json=bodies[-1]).json()["outputs"][0]["hypotheses"]
    card = page.locator(".column[data-model=rev] .hyp-card").first
    got = numbers(card.locator("tr.hyp td.hyp-score").all_inner_texts())
    assert got == pytest.approx([h["score"] for h in want], abs=2e-3)
    # n-best 1 is the single output as before: no list, no n_best sent.
    page.fill("#al-lp", "")
    page.fill("#al-nbest", "1")
    page.click("#al-form button[type=submit]")
    page.locator(".column[data-model=rev] .heatmap-card").first.wait_for()
    assert bodies[-1] == {"inputs": ["abc4"], "decode": "beam", "beam_size": 4}
    assert page.locator(".hyp-card").count() == 0
    # n-best above the beam is refused before the request.
    page.fill("#al-nbest", "5")
    n = len(bodies)
    page.click("#al-form button[type=submit]")
    sync_api.expect(page.locator("#al-status")).to_have_class(re.compile(r"\berror\b"), timeout=15_000)
    assert "at most the beam" in page.locator("#al-status").inner_text() and len(bodies) == n
    page.fill("#al-nbest", "3")
    page.click("#al-form button[type=submit]")
    page.locator(".hyp-card tr.hyp").nth(1).click()
    shot(page, "n-best")


def test_alignment_model_metrics_and_g2p_phoneme_axes(servers, page):
    att = servers["att"]
    page.goto(servers["urls"]["attention"] + "/ui/#alignment")
    page.wait_for_selector("#al-model option[value=g2p]", state="attached")
    page.select_option("#al-model", "rev")
    info = att.get("/v1/models/rev").json()
    box = page.locator(".model-info[data-model=rev]")
    row = box.locator("tr[data-metric=token_error_rate]")
    row.wait_for()
    assert row.locator("th").inner_text() == "token error rate (PER/CER)"
    dev, test = numbers(row.locator("td").all_inner_texts())
    assert dev == pytest.approx(info["dev_metrics"]["dev_token_error_rate"], abs=1e-3)
    assert test == pytest.approx(info["test_metrics"]["token_error_rate"], abs=1e-3)
    names = box.locator("tr[data-metric] th").all_inner_texts()
    assert {"sequence error rate (WER)", "AER", "exact match", "BLEU"} <= set(names), names
    aer = numbers(box.locator("tr[data-metric=alignment_error_rate] td").all_inner_texts())
    assert aer == pytest.approx(
        [info["dev_metrics"]["dev_alignment_error_rate"], info["test_metrics"]["alignment_error_rate"]],
        abs=1e-3,
    )
    # Only the keys present: one row per key of dev_metrics/test_metrics.
    present = {**{k.removeprefix("dev_"): v for k, v in info["dev_metrics"].items()}, **info["test_metrics"]}
    keys = {"alignment_error_rate" if k == "aer" else k for k, v in present.items() if v is not None}
    assert set(box.locator("tr[data-metric]").evaluate_all("rs => rs.map(r => r.dataset.metric)")) == keys
    # Evaluate now: a third column with the API's figures.
    box.locator("select.eval-split").select_option("test")
    box.locator("button.evaluate").click()
    box.locator("tr[data-metric=token_error_rate] td").nth(2).wait_for()
    now = att.post("/v1/models/rev/evaluate", json={"split": "test"}).json()
    got = float(box.locator("tr[data-metric=token_error_rate] td").nth(2).inner_text())
    assert got == pytest.approx(now["token_error_rate"], abs=1e-3)
    # g2p: char -> word tokens; its heatmap has letters across and phonemes down.
    page.select_option("#al-model", "g2p")
    box = page.locator(".model-info[data-model=g2p]")
    box.wait_for()
    assert "char → word tokens" in box.locator("h2").inner_text()
    g2p = att.get("/v1/models/g2p").json()
    per = float(box.locator("tr[data-metric=token_error_rate] td").nth(1).inner_text())
    assert per == pytest.approx(g2p["test_metrics"]["token_error_rate"], abs=1e-3)
    align_in_page(page, "cat", "K AE T", "")
    card = page.locator(".column[data-model=g2p] .heatmap-card").first
    card.locator("rect.cell").first.wait_for(state="attached")
    assert labels(card, "row") == ["K", "AE", "T"]
    assert labels(card, "col") == ["c", "a", "t"]
    assert card.locator("rect.cell").count() == 9
    page.select_option("#al-mode", "translate")
    page.select_option("#al-decode", "greedy")
    page.fill("#al-inputs", "tomato")
    page.click("#al-form button[type=submit]")
    wait_text(page, "#al-status", "ms")
    out = att.post("/v1/models/g2p/translate", json={"inputs": ["tomato"]}).json()["outputs"][0]
    card = page.locator(".column[data-model=g2p] .heatmap-card").first
    assert labels(card, "row") == out["output_tokens"]
    assert labels(card, "col") == list("tomato") == out["source_tokens"]
    assert all(t.isupper() and t.isalpha() for t in out["output_tokens"])
    shot(page, "g2p")


def renamed_components(route) -> None:
    """Answer with the service's OpenAPI document, every schema component renamed (its $refs too)."""
    doc = route.fetch().json()
    text = json.dumps(doc)
    for name in doc["components"]["schemas"]:
        text = text.replace(f'"#/components/schemas/{name}"', f'"#/components/schemas/Renamed{name}"')
    doc = json.loads(text)
    doc["components"]["schemas"] = {f"Renamed{k}": v for k, v in doc["components"]["schemas"].items()}
    route.fulfill(json=doc)


def test_page_reads_schemas_through_operations_not_component_names(servers, page):
    # What the page reads from the document (the exact switch, the beam bounds, the training tasks)
    # must survive a rename of the components: it follows each operation's $ref.
    page.route("**/openapi.json", renamed_components)
    page.goto(servers["urls"]["embeddings"] + "/ui/")
    page.wait_for_selector("#ex-model option[value=lee]", state="attached")
    assert "exact" in body_schema(servers["emb"], "/v1/models/{name}/similar")["properties"]
    assert page.locator("#ex-exact-label").is_visible()
    page.goto(servers["urls"]["attention"] + "/ui/#alignment")
    page.wait_for_selector("#al-model option[value=rev]", state="attached")
    page.select_option("#al-decode", "beam")
    page.locator("#al-nbest").wait_for()  # shown only once the page has found n_best
    schema = body_schema(servers["att"], "/v1/models/{name}/translate")["properties"]
    assert float(page.locator("#al-nbest").get_attribute("max")) == schema["n_best"]["maximum"]
    page.goto(servers["urls"]["attention"] + "/ui/#jobs")
    page.locator("#train-task option[value=g2p]").wait_for(state="attached")  # only from the document


def test_jobs_of_both_services_with_curves(servers, page):
    page.goto(servers["urls"]["embeddings"] + "/ui/#jobs")
    own = page.locator(".jobs-panel[data-service=embeddings]")
    own.locator(f"tr[data-job='{servers['emb_job']}']").wait_for()
    peer = page.locator(".jobs-panel[data-service=attention]")  # GETs from the peer's origin: CORS
    peer.locator(f"tr[data-job='{servers['att_jobs'][0]}']").wait_for()
    own.locator(f"tr[data-job='{servers['emb_job']}']").click()
    chart = page.locator("#job-charts .chart[data-series='loss per epoch'] path.line")
    chart.wait_for(state="attached")
    assert chart.get_attribute("d").count("L") == 3  # 4 epochs
    peer.locator(f"tr[data-job='{servers['att_jobs'][0]}']").click()
    page.locator("#job-charts .chart[data-series='train_loss per step'] path.line").wait_for(state="attached")
    page.locator("#job-charts .chart[data-series='lr per step']").wait_for(state="attached")
    page.locator("#job-charts .chart[data-series='dev_exact_match per epoch']").wait_for(state="attached")
    page.locator("#job-charts .chart[data-series='dev_token_error_rate per epoch']").wait_for(
        state="attached"
    )
    job = servers["att"].get(f"/v1/jobs/{servers['att_jobs'][0]}?history=false").json()
    summary = page.locator("#job-summary").inner_text()
    for label, key in (
        ("dev token error rate (PER/CER)", "dev_token_error_rate"),
        ("dev sequence error rate (WER)", "dev_sequence_error_rate"),
    ):
        m = re.search(re.escape(label) + r" (\S+)", summary)
        assert m and float(m.group(1)) == pytest.approx(job[key], abs=1e-4), summary
    shot(page, "jobs")


def test_cancel_asks_for_the_token_on_401(servers, page):
    att = servers["att"]
    r = att.post(
        "/v1/models",
        json={
            "name": "long",
            "task": {"name": "reversal", "n_train": 5000, "max_len": 10},
            "config": {"hidden": 32},
            "params": {"epochs": 100},
        },
    )
    assert r.status_code == 202, r.text
    job_id = r.json()["job_id"]
    try:
        page.goto(servers["urls"]["attention"] + "/ui/#jobs")
        button = page.locator(f".jobs-panel[data-service=attention] tr[data-job='{job_id}'] button.cancel")
        button.click()
        dialog = page.locator("#token-dialog")
        dialog.wait_for()
        page.fill("#token-input", TOKEN)
        page.click("#token-ok")
        wait_for(
            lambda: att.get(f"/v1/jobs/{job_id}?history=false").json()["status"] == "cancelled",
            30,
            "cancelled",
        )
        page.locator(f"tr[data-job='{job_id}'][data-status=cancelled]").wait_for()
        assert page.evaluate("sessionStorage.getItem('embattn-token')") == TOKEN
    finally:
        att.delete(f"/v1/jobs/{job_id}")


def test_stop_keep_best_publishes_the_running_training(servers, page):
    att = servers["att"]
    r = att.post(
        "/v1/models",
        json={
            "name": "kept-ui",
            "overwrite": True,
            "task": {"name": "reversal", "n_train": 5000, "max_len": 10},
            "config": {"hidden": 32},
            "params": {"epochs": 100},
        },
    )
    assert r.status_code == 202, r.text
    job_id = r.json()["job_id"]
    try:
        wait_for(
            lambda: (att.get(f"/v1/jobs/{job_id}?history=false").json().get("step") or 0) >= 3, 60, "steps"
        )
        page.goto(servers["urls"]["attention"] + "/ui/#jobs")
        page.evaluate(f"sessionStorage.setItem('embattn-token', {TOKEN!r})")
        page.locator(f".jobs-panel[data-service=attention] tr[data-job='{job_id}'] button.keep").click()
        wait_for(
            lambda: att.get(f"/v1/jobs/{job_id}?history=false").json()["status"] == "succeeded", 60, "kept"
        )
        job = att.get(f"/v1/jobs/{job_id}?history=false").json()
        assert job["result"]["stopped_by"] == "cancel", job
        page.locator(f"tr[data-job='{job_id}'][data-status=succeeded]").wait_for()
    finally:
        att.delete(f"/v1/jobs/{job_id}")


@pytest.mark.parametrize("manual", ["docs", "redoc"])
def test_api_manuals_render_offline(servers, page, manual):
    page.goto(servers["urls"]["embeddings"] + f"/{manual}")
    page.wait_for_selector(
        ".swagger-ui .info .title" if manual == "docs" else "redoc-wrapper, .api-content, h1"
    )
    assert "embattn embeddings" in page.content()
    page.wait_for_timeout(300)


# --------------------------------------------------------------------------- /docs under a prefix


@pytest.fixture(scope="module")
def prefixed_docs(tmp_path_factory):
    """The embeddings app mounted at ``/embeddings`` of a Starlette app, served by uvicorn (in a
    thread of this process): what Ray Serve's ``route_prefix`` does to it."""
    import threading

    import uvicorn
    from starlette.applications import Starlette
    from starlette.routing import Mount

    from tests.helpers import embeddings_app

    app = embeddings_app(tmp_path_factory.mktemp("docs-prefix"))
    outer = Starlette(
        routes=[Mount("/embeddings", app=app)], lifespan=lambda _: app.router.lifespan_context(app)
    )
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(outer, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}/embeddings"
    wait_for(lambda: httpx.get(base + "/readyz").status_code == 200, 60, "readiness under the prefix")
    yield base
    server.should_exit = True
    thread.join(15)


def test_swagger_ui_under_a_prefix_loads_the_document_and_tries_it_out(prefixed_docs, page):
    answers: list[tuple[str, int]] = []
    page.on("response", lambda r: answers.append((r.url, r.status)))
    page.goto(prefixed_docs + "/docs")
    healthz = page.locator('.opblock-get:has(.opblock-summary-path[data-path="/healthz"])')
    healthz.wait_for()
    assert (prefixed_docs + "/openapi.json", 200) in answers
    assert page.locator(".servers select option").all_inner_texts() == ["/embeddings"]
    healthz.locator(".opblock-summary").click()
    healthz.locator(".try-out__btn").click()
    healthz.locator(".execute").click()
    status = healthz.locator(".live-responses-table tbody .response-col_status")
    status.wait_for()
    assert status.inner_text().strip() == "200"
    assert healthz.locator(".request-url pre").inner_text().strip() == prefixed_docs + "/healthz"
    assert (prefixed_docs + "/healthz", 200) in answers
    assert not [url for url, status in answers if status >= 400], answers


def test_redoc_under_a_prefix_loads_the_document(prefixed_docs, page):
    answers: list[tuple[str, int]] = []
    page.on("response", lambda r: answers.append((r.url, r.status)))
    page.goto(prefixed_docs + "/redoc")
    page.locator("h1").first.wait_for()
    assert (
        httpx.get(prefixed_docs + "/openapi.json").json()["info"]["title"]
        in page.locator("h1").first.inner_text()
    )
    assert (prefixed_docs + "/openapi.json", 200) in answers
    assert not [url for url, status in answers if status >= 400], answers
