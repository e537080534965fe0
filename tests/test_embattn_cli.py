"""The ``embattn`` console script against real services: uvicorn processes on free loopback ports,
the real script run with subprocess (progress bars, ``--json``, exit codes, Ctrl-C)."""

from __future__ import annotations

import argparse
import json
import os
import pty
import re
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

EMBATTN = str(Path(sys.executable).with_name("embattn"))
SENTENCES = [
    "the king rules the land with the queen",
    "the queen rules the land with the king",
    "a man walks the dog in the park",
    "a woman walks the cat in the park",
    "the dog and the cat play in the park",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_service(service: str, data_dir: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    prefix = service.upper()
    env = {**os.environ, f"{prefix}_TRAIN_DEFAULT": "false", f"{prefix}_LOG_LEVEL": "warning"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "service", service, "--port", str(port), "--data-dir", str(data_dir)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        assert proc.poll() is None, f"{service} exited with {proc.returncode}"
        assert time.monotonic() < deadline, f"{service} not ready in 60 s"
        time.sleep(0.2)


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def emb_url(tmp_path_factory):
    proc, url = start_service("embeddings", tmp_path_factory.mktemp("cli-emb"))
    yield url
    stop(proc)


def embattn(
    *args: str, url: str | None = None, timeout: float = 60, input: str | None = None, **env: str
) -> subprocess.CompletedProcess:
    """Run the script; ``input`` is its stdin (else none)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("EMBATTN_")}
    if url:
        full_env["EMBATTN_EMBEDDINGS_URL"] = url
    full_env.update(env)
    return subprocess.run(
        [EMBATTN, *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input,
        stdin=subprocess.DEVNULL if input is None else None,
    )


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli-corpus") / "corpus.txt"
    path.write_text("\n".join(SENTENCES * 12) + "\n")
    return path


@pytest.fixture(scope="module")
def trained(emb_url, corpus):
    proc = embattn(  # the issue's own words: `embattn train my-corpus.txt --name mine` (the embeddings service's)
        "train", str(corpus), "--name", "tiny", "--epochs", "3", "--min-count", "1",
        "--vector-size", "12", "--workers", "1", "--param", "seed=3", url=emb_url,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc


def test_train_shows_progress_then_the_models_metadata(trained, emb_url):
    err = trained.stderr
    assert "upload corpus.txt" in err and "60 sentences" in err  # the transfer bar, then the corpus
    assert "train tiny" in err and "succeeded" in err and "epoch 3/3" in err  # the job's bar, final state
    assert "loss" in err and "words/s" in err and "ETA" in err
    lines = dict(line.split(None, 1) for line in trained.stdout.splitlines())
    assert lines["name"] == "tiny" and lines["version"] == "1" and lines["vector_size"] == "12"
    assert json.loads(lines["params"])["seed"] == 3
    info = httpx.get(f"{emb_url}/v1/models/tiny").json()
    assert info["corpus"]["sentences"] == 60


def test_similar_human_and_json(trained, emb_url):
    proc = embattn("embeddings", "similar", "tiny", "king", "--topn", "3", url=emb_url)
    assert proc.returncode == 0 and proc.stderr == ""
    rows = [line.split() for line in proc.stdout.splitlines()]
    assert len(rows) == 3 and all(len(r) == 2 and -1 <= float(r[1]) <= 1 for r in rows)
    proc = embattn("e", "similar", "tiny", "king", "--topn", "3", "--json", url=emb_url)
    assert proc.returncode == 0
    expected = httpx.post(f"{emb_url}/v1/models/tiny/similar", json={"positive": ["king"], "topn": 3}).json()
    assert json.loads(proc.stdout) == expected
    assert [r[0] for r in rows] == [r["word"] for r in expected["results"]]
    # global options before the group work too; --url overrides the environment
    proc = embattn("--json", "--url", emb_url, "e", "analogy", "tiny", "man", "king", "woman", "--topn", "2")
    assert proc.returncode == 0 and len(json.loads(proc.stdout)["results"]) == 2
    proc = embattn("e", "vectors", "tiny", "king", "qwzx", url=emb_url)
    assert proc.returncode == 0
    king, unknown = proc.stdout.splitlines()
    assert len(king.split()) == 13 and unknown == "qwzx  (unknown)"
    short = embattn("--json", "similar", "tiny", "king", "--topn", "3", url=emb_url)  # service left out
    assert short.returncode == 0 and json.loads(short.stdout) == expected
    exact = embattn("--json", "similar", "tiny", "king", "--topn", "3", "--exact", "--restrict-vocab", "5",
                    url=emb_url)  # fmt: skip
    body = {"positive": ["king"], "topn": 3, "exact": True, "restrict_vocab": 5}
    assert json.loads(exact.stdout) == httpx.post(f"{emb_url}/v1/models/tiny/similar", json=body).json()


def test_shortcuts_name_their_service():
    from service.cli.main import expand_shortcut

    assert expand_shortcut(["--url", "http://x", "train", "c.txt"]) == [
        "--url",
        "http://x",
        "embeddings",
        "train",
        "c.txt",
    ]
    assert expand_shortcut(["translate", "dates", "5/3/2026"])[0] == "attention"
    for command in ("continue", "similarity", "n-similarity", "doesnt-match", "sentence-vectors", "batch"):
        assert expand_shortcut([command, "m"])[0] == "embeddings"
    assert expand_shortcut(["corpora", "list"])[0] == "embeddings"
    assert expand_shortcut(["heatmap", "m", "x", "f.png"])[0] == "attention"
    assert expand_shortcut(["datasets"])[0] == "attention"
    assert expand_shortcut(["evaluate", "m"]) == ["evaluate", "m"]  # both services have it
    assert expand_shortcut(["health"]) == ["health"]
    assert expand_shortcut(["attention", "train", "--task", "g2p"]) == ["attention", "train", "--task", "g2p"]
    assert expand_shortcut(["models", "list"]) == ["models", "list"]  # ambiguous: the service is needed
    assert expand_shortcut(["--json"]) == ["--json"]


#: The command line of each operation of the Python clients (the routes both services share first).
SHARED_COMMANDS = {
    "health": ["health"],
    "ready": ["health", "--ready"],
    "models": ["models", "list"],
    "model": ["models", "show", "m"],
    "delete_model": ["models", "delete", "m"],
    "versions": ["models", "versions", "m"],
    "set_current_version": ["models", "rollback", "m", "1"],
    "rollback": ["models", "rollback", "m", "1"],
    "delete_version": ["models", "delete", "m", "--version", "2"],
    "jobs": ["jobs", "list"],
    "job": ["jobs", "show", "j"],
    "cancel_job": ["jobs", "cancel", "j"],
}
CLIENT_COMMANDS = {
    "embeddings": {
        **SHARED_COMMANDS,
        "upload_corpus": ["corpora", "upload", "c.txt"],
        "corpora": ["corpora", "list"],
        "corpus": ["corpora", "show", "c"],
        "delete_corpus": ["corpora", "delete", "c"],
        "train": ["train", "c.txt", "--name", "m"],
        "continue_training": ["continue", "m", "c.txt"],
        "import_vectors": ["import", "m", "v.bin"],
        "import_file": ["import", "m", "v.bin", "--on-server"],
        "export_vectors": ["export", "m", "v.bin"],
        "similar": ["similar", "m", "king"],
        "analogy": ["analogy", "m", "man", "king", "woman"],
        "similarity": ["similarity", "m", "king", "queen"],
        "n_similarity": ["n-similarity", "m", "king", "--to", "queen"],
        "doesnt_match": ["doesnt-match", "m", "king", "queen", "park"],
        "vectors": ["vectors", "m", "king"],
        "sentence_vectors": ["sentence-vectors", "m", "the king"],
        "batch": ["batch", "m", "vectors", "q.jsonl"],
        "similar_batch": ["batch", "m", "similar", "q.jsonl"],
        "analogy_batch": ["batch", "m", "analogy", "q.jsonl"],
        "evaluate": ["evaluate", "m", "--pairs", "wordsim353"],
    },
    "attention": {
        **SHARED_COMMANDS,
        "upload_dataset": ["datasets", "upload", "p.tsv"],
        "datasets": ["datasets", "list"],
        "dataset": ["datasets", "show", "d"],
        "delete_dataset": ["datasets", "delete", "d"],
        "train": ["train", "--task", "dates", "--name", "m"],
        "translate": ["translate", "m", "5/3/2026"],
        "align": ["align", "m", "abc", "cba"],
        "heatmap": ["heatmap", "m", "abc", "a.png"],
        "evaluate": ["evaluate", "m", "--pairs", "p.tsv"],
    },
}


@pytest.mark.parametrize("service", ["embeddings", "attention"])
def test_every_operation_of_the_client_has_a_command(service):
    """The command line covers the client: each of its operations (a route of the service) is a
    command, and each command line here parses to that command's handler."""
    from service.cli.main import SERVICES, build_parser
    from service.client.base import operation

    client_cls = SERVICES[service][0]
    operations = {name for name in dir(client_cls) if isinstance(getattr(client_cls, name), operation)}
    assert operations == set(CLIENT_COMMANDS[service])
    parser = build_parser()
    for name, argv in CLIENT_COMMANDS[service].items():
        args = parser.parse_args([service, *argv])
        assert args.command == argv[0] and callable(args.handler), name


def test_the_help_shows_every_command():
    from service.cli.main import EPILOG, build_parser

    examples = re.findall(r"^  embattn (?:--json )?(embeddings|attention) (\S+)", EPILOG, re.MULTILINE)
    parser = build_parser()
    groups = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for service in ("embeddings", "attention"):
        sub = next(a for a in groups.choices[service]._actions if isinstance(a, argparse._SubParsersAction))
        commands = set(sub.choices)
        shown = {command for _, command in examples}
        assert commands <= shown, f"{service}: no example of {sorted(commands - shown)} in embattn --help"
    helped = embattn("--help")
    assert helped.returncode == 0 and "embattn embeddings doesnt-match" in helped.stdout


def test_a_problem_exits_1_with_its_status_and_detail(emb_url):
    proc = embattn("embeddings", "similar", "nope", "king", url=emb_url)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.strip() == "embattn: 404 model-not-found: no model named 'nope'"
    proc = embattn("embeddings", "--json", "models", "show", "nope", url=emb_url)
    assert proc.returncode == 1 and json.loads(proc.stdout)["status"] == 404
    proc = embattn("embeddings", "similar", "nope", "king", "--topn", "0", url=emb_url)
    assert proc.returncode == 1 and "422" in proc.stderr and "body.topn" in proc.stderr


def test_cannot_connect_exits_3_and_usage_exits_2(tmp_path):
    closed = f"http://127.0.0.1:{free_port()}"
    proc = embattn("embeddings", "models", url=closed, timeout=30)
    assert proc.returncode == 3 and proc.stderr.startswith(f"embattn: cannot connect to {closed}")
    proc = embattn("attention", "jobs", EMBATTN_ATTENTION_URL=closed)
    assert proc.returncode == 3
    assert embattn().returncode == 2
    assert embattn("embeddings", "similar").returncode == 2
    assert embattn("embeddings", "train", "--name", "x", url=closed).returncode == 2  # no corpus
    assert (
        embattn("embeddings", "train", str(tmp_path / "missing.txt"), "--name", "x", url=closed).returncode
        == 2
    )
    helped = embattn("--help")
    assert helped.returncode == 0
    for text in ("exit status", "130", "EMBATTN_EMBEDDINGS_URL", "EMBATTN_TOKEN", "cannot connect"):
        assert text in helped.stdout


def test_export_import_models_and_jobs(trained, emb_url, tmp_path):
    out = tmp_path / "tiny.bin"
    proc = embattn("embeddings", "export", "tiny", str(out), url=emb_url)
    assert proc.returncode == 0 and out.stat().st_size > 0 and "export tiny" in proc.stderr
    assert proc.stdout.startswith(f"wrote {out} ({out.stat().st_size} bytes")
    proc = embattn("embeddings", "import", "copy", str(out), url=emb_url)
    assert proc.returncode == 0 and "import tiny.bin" in proc.stderr and "source" in proc.stdout
    assert embattn("embeddings", "import", "copy", str(out), url=emb_url).returncode == 1  # model-exists
    assert embattn("embeddings", "import", "copy", str(out), "--overwrite", url=emb_url).returncode == 0
    versions = json.loads(embattn("--json", "embeddings", "models", "versions", "copy", url=emb_url).stdout)
    assert versions["current"] == 2
    proc = embattn("embeddings", "models", "rollback", "copy", "1", url=emb_url)
    assert proc.returncode == 0 and proc.stdout.splitlines()[1].split()[:2] == ["*", "1"]
    listed = json.loads(embattn("--json", "embeddings", "models", url=emb_url).stdout)
    assert {m["name"] for m in listed["models"]} == {"tiny", "copy"}
    assert embattn("embeddings", "models", "delete", "copy", "--version", "2", url=emb_url).returncode == 0
    assert embattn("embeddings", "models", "delete", "copy", url=emb_url).returncode == 0
    jobs = json.loads(embattn("--json", "embeddings", "jobs", "list", "--model", "tiny", url=emb_url).stdout)
    (job,) = jobs["jobs"]
    assert job["status"] == "succeeded"
    proc = embattn("embeddings", "jobs", "cancel", job["id"], url=emb_url)
    assert proc.returncode == 1 and "409" in proc.stderr  # it ended
    watched = embattn("--json", "embeddings", "jobs", "watch", job["id"], url=emb_url)
    assert watched.returncode == 0 and json.loads(watched.stdout.splitlines()[-1])["status"] == "succeeded"


def _http_json(method: str, url: str, **kw) -> dict:
    r = httpx.request(method, url, **kw)
    assert r.status_code < 300, r.text
    return r.json()


def test_corpora_upload_list_show_delete(trained, emb_url, corpus):
    proc = embattn("embeddings", "corpora", "upload", str(corpus), "--name", "mine", "--tokenizer",
                   "whitespace", url=emb_url)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "upload corpus.txt" in proc.stderr  # the transfer bar
    lines = dict(line.split(None, 1) for line in proc.stdout.splitlines())
    assert lines["id"] == "mine" and lines["sentences"] == "60" and lines["tokenizer"] == "whitespace"
    listed = embattn("--json", "embeddings", "corpora", url=emb_url)  # list is the default
    assert listed.returncode == 0 and json.loads(listed.stdout) == _http_json("GET", f"{emb_url}/v1/corpora")
    table = embattn("e", "corpora", "list", url=emb_url).stdout.splitlines()
    assert table[0].split() == ["ID", "SENTENCES", "TOKENS", "FORMAT", "CREATED"]
    assert any(row.split()[:2] == ["mine", "60"] for row in table[1:])
    shown = embattn("--json", "corpora", "show", "mine", url=emb_url)  # the embeddings' shortcut
    assert json.loads(shown.stdout) == _http_json("GET", f"{emb_url}/v1/corpora/mine")
    again = embattn("embeddings", "corpora", "upload", str(corpus), "--name", "mine", url=emb_url)
    assert again.returncode == 1 and "409" in again.stderr
    missing = embattn("embeddings", "corpora", "upload", str(corpus) + ".nope", url=emb_url)
    assert missing.returncode == 2 and "no such file" in missing.stderr
    deleted = embattn("embeddings", "corpora", "delete", "mine", url=emb_url)
    assert deleted.returncode == 0 and deleted.stdout.strip() == "deleted corpus mine"
    assert embattn("embeddings", "corpora", "show", "mine", url=emb_url).returncode == 1  # 404


def test_similarity_n_similarity_doesnt_match_sentence_vectors(trained, emb_url):
    api = f"{emb_url}/v1/models/tiny"
    proc = embattn("--json", "e", "similarity", "tiny", "king", "queen", "dog", "cat", url=emb_url)
    expected = _http_json("POST", f"{api}/similarity", json={"pairs": [["king", "queen"], ["dog", "cat"]]})
    assert proc.returncode == 0 and json.loads(proc.stdout) == expected
    rows = [line.split() for line in embattn("similarity", "tiny", "king", "queen", "dog", "cat",
                                             url=emb_url).stdout.splitlines()]  # fmt: skip
    assert [r[:2] for r in rows] == [["king", "queen"], ["dog", "cat"]]
    assert [float(r[2]) for r in rows] == pytest.approx(expected["similarities"], abs=1e-4)
    assert embattn("similarity", "tiny", "king", url=emb_url).returncode == 2  # not a pair

    proc = embattn("--json", "n-similarity", "tiny", "king", "queen", "--to", "dog", "cat", url=emb_url)
    expected = _http_json(
        "POST", f"{api}/n-similarity", json={"words1": ["king", "queen"], "words2": ["dog", "cat"]}
    )
    assert proc.returncode == 0 and json.loads(proc.stdout) == expected
    human = embattn("n-similarity", "tiny", "king", "queen", "--to", "dog", "cat", url=emb_url)
    assert float(human.stdout) == pytest.approx(expected["similarity"], abs=1e-4)
    assert embattn("n-similarity", "tiny", "king", url=emb_url).returncode == 2  # no --to

    words = ["king", "queen", "park"]
    proc = embattn("--json", "doesnt-match", "tiny", *words, url=emb_url)
    expected = _http_json("POST", f"{api}/doesnt-match", json={"words": words})
    assert proc.returncode == 0 and json.loads(proc.stdout) == expected
    assert embattn("doesnt-match", "tiny", *words, url=emb_url).stdout == expected["word"] + "\n"

    sentences = ["the king walks", "qwzx"]
    proc = embattn("--json", "sentence-vectors", "tiny", *sentences, "--pooling", "max", url=emb_url)
    expected = _http_json("POST", f"{api}/sentence-vectors", json={"sentences": sentences, "pooling": "max"})
    assert proc.returncode == 0 and json.loads(proc.stdout) == expected
    human = embattn("sentence-vectors", "tiny", "--file", "-", url=emb_url, input="the king walks\n\nqwzx\n")
    rows = [line.split("\t") for line in human.stdout.splitlines()]
    assert human.returncode == 0 and [r[:2] for r in rows] == [["the king walks", "3/3"], ["qwzx", "0/1"]]
    assert len(rows[0][2].split()) == 12 and set(rows[1][2].split()) == {"0.0000"}
    assert embattn("sentence-vectors", "tiny", url=emb_url).returncode == 2  # no sentence
    # a problem of the service is exit 1, as for every command
    assert embattn("doesnt-match", "nope", "a", "b", url=emb_url).returncode == 1


def test_batch_prints_each_result_and_fails_when_one_did(trained, emb_url, tmp_path):
    queries = [{"positive": ["king"], "topn": 2}, {"positive": ["qwzx"]}]
    path = tmp_path / "q.jsonl"
    path.write_text("".join(json.dumps(q) + "\n" for q in queries))
    proc = embattn("--json", "batch", "tiny", "similar", str(path), url=emb_url)
    expected = _http_json("POST", f"{emb_url}/v1/models/tiny/similar/batch", json={"queries": queries})
    assert proc.returncode == 1 and json.loads(proc.stdout) == expected
    human = embattn("batch", "tiny", "similar", str(path), url=emb_url)
    ok, failed = (line.split("\t") for line in human.stdout.splitlines())
    assert ok[:2] == ["0", "ok"] and json.loads(ok[2]) == expected["results"][0]
    assert failed[:2] == ["1", "error"] and failed[2].startswith("404 unknown-words")
    assert human.returncode == 1 and "1 of 2 queries failed" in human.stderr
    array = json.dumps([{"words1": ["king"], "words2": ["queen"]}])  # a JSON array, on stdin
    proc = embattn("batch", "tiny", "n-similarity", "-", url=emb_url, input=array)
    assert proc.returncode == 0 and proc.stdout.startswith('0\tok\t{"similarity": ')
    bad = embattn("batch", "tiny", "similar", "-", url=emb_url, input="not json\n")
    assert bad.returncode == 2 and bad.stderr.startswith("embattn: -:1: not JSON")
    assert embattn("batch", "tiny", "nothing", str(path), url=emb_url).returncode == 2


def test_evaluate_builtin_benchmarks_and_local_files(trained, emb_url, tmp_path):
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("# word1 word2 score\nking\tqueen\t9\ndog cat 7\nking park 1\n")
    analogies = tmp_path / "an.txt"
    analogies.write_text(
        ": royal\nman king woman queen\nking queen man woman\n: animals\ndog cat man woman\n"
    )
    proc = embattn("--json", "e", "evaluate", "tiny", "--pairs", str(pairs), "--analogies", str(analogies),
                   url=emb_url)  # fmt: skip
    expected = _http_json(
        "POST",
        f"{emb_url}/v1/models/tiny/evaluate",
        json={
            "pairs": {"items": [["king", "queen", 9.0], ["dog", "cat", 7.0], ["king", "park", 1.0]]},
            "analogies": {"sections": [
                {"name": "royal", "questions": [["man", "king", "woman", "queen"], ["king", "queen", "man", "woman"]]},
                {"name": "animals", "questions": [["dog", "cat", "man", "woman"]]},
            ]},
        },
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == expected and expected["pairs"]["pairs_used"] == 3
    human = embattn(
        "e", "evaluate", "tiny", "--pairs", str(pairs), "--analogies", str(analogies), url=emb_url
    )
    out = human.stdout.splitlines()
    assert human.returncode == 0 and out[0] == "pairs" and "analogies" in out
    assert out[1].split() == ["dataset", "inline"]  # the pairs' figures, indented under their heading
    sections = out[out.index("  SECTION  CORRECT  INCORRECT  ACCURACY") + 1 :]
    assert [row.split()[0] for row in sections] == ["royal", "animals"]
    builtin = embattn("--json", "e", "evaluate", "tiny", "--pairs", "wordsim353", url=emb_url)
    assert builtin.returncode == 0 and json.loads(builtin.stdout)["pairs"]["dataset"] == "wordsim353"
    restricted = embattn("--json", "e", "evaluate", "tiny", "--pairs", str(pairs), "--restrict-vocab", "3",
                         "--case-sensitive", url=emb_url)  # fmt: skip
    assert json.loads(restricted.stdout)["pairs"]["pairs_used"] < 3
    assert embattn("e", "evaluate", "tiny", url=emb_url).returncode == 2  # neither
    assert embattn("e", "evaluate", "tiny", "--pairs", "nothing-such", url=emb_url).returncode == 2
    bad = tmp_path / "bad.tsv"
    bad.write_text("king queen\n")
    proc = embattn("e", "evaluate", "tiny", "--pairs", str(bad), url=emb_url)
    assert (
        proc.returncode == 2
        and proc.stderr.strip() == f"embattn: {bad}:1: expected 'word1 word2 score', got 2 fields"
    )


def test_continue_training_and_health(trained, emb_url, corpus):
    train = embattn("train", str(corpus), "--name", "more", "--epochs", "1", "--min-count", "1",
                    "--vector-size", "8", "--workers", "1", url=emb_url)  # fmt: skip
    assert train.returncode == 0, train.stderr
    corpus_id = json.loads(embattn("--json", "e", "models", "show", "more", url=emb_url).stdout)["corpus"][
        "id"
    ]
    proc = embattn("continue", "more", "--corpus-id", corpus_id, "--epochs", "2", url=emb_url)
    assert proc.returncode == 0, proc.stderr
    assert "continue more" in proc.stderr and "epoch 2/2" in proc.stderr  # the job's bar
    lines = dict(line.split(None, 1) for line in proc.stdout.splitlines())
    assert lines["version"] == "2" and lines["source"] == "continued"
    again = embattn("--json", "continue", "more", str(corpus), "--detach", url=emb_url)  # a local file
    accepted = json.loads(again.stdout)
    assert again.returncode == 0 and accepted["status"] in ("queued", "running")
    watched = embattn("--json", "e", "jobs", "watch", accepted["job_id"], url=emb_url)
    assert json.loads(watched.stdout.splitlines()[-1])["status"] == "succeeded"
    assert json.loads(embattn("--json", "e", "models", "show", "more", url=emb_url).stdout)["version"] == 3
    assert embattn("continue", "more", url=emb_url).returncode == 2  # no corpus
    assert embattn("continue", "nope", "--corpus-id", corpus_id, url=emb_url).returncode == 1  # 404

    health = embattn("--json", "embeddings", "health", url=emb_url)
    assert health.returncode == 0 and json.loads(health.stdout) == _http_json("GET", f"{emb_url}/healthz")
    ready = embattn("embeddings", "health", "--ready", url=emb_url)
    assert ready.returncode == 0 and ready.stdout.splitlines()[0].split() == ["status", "ready"]


def test_ctrl_c_cancels_the_job_when_stdin_is_not_a_terminal(emb_url, tmp_path):
    corpus = tmp_path / "long.txt"
    corpus.write_text("\n".join(SENTENCES * 400) + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMBATTN_")}
    proc = subprocess.Popen(
        [EMBATTN, "--url", emb_url, "embeddings", "train", str(corpus), "--name", "long", "--epochs", "100",
         "--min-count", "1", "--workers", "1", "--interval", "0.1"],
        env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not httpx.get(f"{emb_url}/v1/jobs", params={"model": "long", "status": "running"}).json()[
            "jobs"
        ]:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the job never ran"
            time.sleep(0.1)
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    (job,) = httpx.get(f"{emb_url}/v1/jobs", params={"model": "long"}).json()["jobs"]
    assert job["status"] == "cancelled"
    assert f"job {job['id']} cancelled" in err and "Traceback" not in err


def _read_pty(fd: int, seconds: float, until: bytes | None = None) -> bytes:
    out, end = b"", time.monotonic() + seconds
    while time.monotonic() < end and not (until and until in out):
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                out += os.read(fd, 65536)
            except OSError:  # the child closed the terminal
                break
    return out


def test_ctrl_c_on_a_terminal_asks_before_cancelling(emb_url, tmp_path):
    """On a terminal: a live bar, then Ctrl-C asks "cancel job …? [y/N]"; "n" leaves the job running."""
    corpus = tmp_path / "long.txt"
    corpus.write_text("\n".join(SENTENCES * 400) + "\n")
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMBATTN_")}
    proc = subprocess.Popen(
        [EMBATTN, "--url", emb_url, "embeddings", "train", str(corpus), "--name", "asked", "--epochs", "100",
         "--min-count", "1", "--workers", "1", "--interval", "0.1"],
        env={**env, "COLUMNS": "120"}, stdin=slave, stdout=slave, stderr=slave,
    )  # fmt: skip
    os.close(slave)
    try:
        seen = b""
        deadline = time.monotonic() + 30
        while b"running" not in seen:  # the live bar redraws while the job runs
            assert proc.poll() is None and time.monotonic() < deadline, seen
            seen += _read_pty(master, 0.2)
        proc.send_signal(signal.SIGINT)
        seen += _read_pty(master, 10, until=b"[y/N] ")
        (job,) = httpx.get(f"{emb_url}/v1/jobs", params={"model": "asked"}).json()["jobs"]
        assert f"cancel job {job['id']}? [y/N] ".encode() in seen
        os.write(master, b"n\n")
        assert proc.wait(timeout=15) == 130
        seen += _read_pty(master, 1)
        assert f"embattn embeddings jobs watch {job['id']}".encode() in seen
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    assert httpx.get(f"{emb_url}/v1/jobs/{job['id']}").json()["status"] in ("queued", "running")
    cancelled = embattn("embeddings", "jobs", "cancel", job["id"], url=emb_url)
    assert cancelled.returncode == 0 and cancelled.stdout.strip() == f"job {job['id']} cancelled"


# --------------------------------------------------------------------------- attention


def test_attention_train_translate_heatmap_align(tmp_path_factory, tmp_path):
    proc, url = start_service("attention", tmp_path_factory.mktemp("cli-att"))
    try:
        env = {"EMBATTN_ATTENTION_URL": url}
        train = embattn(
            "attention", "train", "--task", "reversal", "--n-train", "300", "--max-len", "5", "--name", "rev",
            "--epochs", "2", "--hidden", "16", "--config", "emb_dim=8", "--config", "input_feeding=true",
            "--param", "lr=0.01", timeout=120, **env,
        )  # fmt: skip
        # (input feeding: a model this small then emits tokens after 2 epochs; without it, it first
        # learns to stop at once, and an empty output has no heatmap to draw)
        assert train.returncode == 0, train.stderr
        assert "train rev" in train.stderr and "epoch 2/2" in train.stderr and "steps/s" in train.stderr
        assert "src_vocab_size" in train.stdout
        png = tmp_path / "rev.png"
        out = embattn(
            "attention", "translate", "rev", "abc", "hello", "--links", "--heatmap", str(png), **env
        )
        assert out.returncode == 0, out.stderr
        rows = [line.split("\t") for line in out.stdout.splitlines()]
        assert [r[0] for r in rows] == ["abc", "hello"] and all(len(r) == 4 for r in rows)
        for path in (tmp_path / "rev-1.png", tmp_path / "rev-2.png"):
            assert path.read_bytes().startswith(b"\x89PNG") and f"wrote {path}" in out.stderr
        svg = tmp_path / "one.svg"
        assert embattn("attention", "translate", "rev", "abc", "--heatmap", str(svg), **env).returncode == 0
        assert b"<svg" in svg.read_bytes()[:500]
        as_json = json.loads(
            embattn("--json", "attention", "translate", "rev", "abc", "--beam", "2", **env).stdout
        )
        assert as_json["decode"] == "beam" and as_json["outputs"][0]["attention"]
        nbest = embattn("attention", "translate", "rev", "abc", "--beam", "3", "--n-best", "2", **env)
        rows = [line.split("\t") for line in nbest.stdout.splitlines()]
        assert nbest.returncode == 0 and [r[3] for r in rows] == ["#1", "#2"], nbest.stdout + nbest.stderr
        greedy = embattn("attention", "translate", "rev", "abc", "--n-best", "2", **env)
        assert greedy.returncode == 1  # n_best needs --beam: a 422
        aligned = embattn("attention", "align", "rev", "abc", "cba", "--gold", "0-2 1-1 2-0", **env)
        assert aligned.returncode == 0 and "aer" in aligned.stdout
        bad = embattn("attention", "translate", "nope", "abc", **env)
        assert bad.returncode == 1 and "404" in bad.stderr
        assert json.loads(embattn("--json", "a", "evaluate", "rev", "--split", "test", **env).stdout)["n"] > 0

        # heatmap: one input, a given target, straight to a file
        svg = tmp_path / "given.svg"
        out = embattn("heatmap", "rev", "abc", str(svg), "--target", "cba", **env)  # the attention's shortcut
        assert (
            out.returncode == 0
            and out.stdout.startswith(f"wrote {svg} (")
            and b"<svg" in svg.read_bytes()[:500]
        )
        # the same figure as the service's (matplotlib's SVG differs between two renderings only in its ids)
        expected = httpx.get(f"{url}/v1/models/rev/attention.svg", params={"input": "abc", "target": "cba"})
        assert abs(len(svg.read_bytes()) - len(expected.content)) < 100
        png = tmp_path / "beam.png"
        assert embattn("attention", "heatmap", "rev", "abc", str(png), "--beam", "2", **env).returncode == 0
        assert png.read_bytes().startswith(b"\x89PNG")

        # evaluate on a local file of pairs (TSV with gold links, or JSON lines)
        tsv = tmp_path / "test.tsv"
        tsv.write_text("abc\tcba\t0-2 1-1 2-0\nhello\tolleh\n")
        got = embattn("--json", "a", "evaluate", "rev", "--pairs", str(tsv), **env)
        expected = httpx.post(
            f"{url}/v1/models/rev/evaluate",
            json={"pairs": [["abc", "cba", "0-2 1-1 2-0"], ["hello", "olleh"]]},
        ).json()
        assert got.returncode == 0 and json.loads(got.stdout) == expected and expected["n"] == 2
        jsonl = tmp_path / "test.jsonl"
        jsonl.write_text('{"source": "abc", "target": "cba", "links": "0-2 1-1 2-0"}\n["hello", "olleh"]\n')
        assert (
            json.loads(embattn("--json", "a", "evaluate", "rev", "--pairs", str(jsonl), **env).stdout)
            == expected
        )
        assert embattn("a", "evaluate", "rev", "--pairs", str(tsv), "--split", "dev", **env).returncode == 2
        assert embattn("a", "evaluate", "rev", "--pairs", str(tmp_path / "none.tsv"), **env).returncode == 2

        # datasets: upload (named), list, show, train on it with a separate dev dataset, delete
        pairs = tmp_path / "pairs.tsv"
        pairs.write_text("abc\tcba\t0-2 1-1 2-0\nhello\tolleh\nxyz\tzyx\nab12\t21ba\nqwerty\tytrewq\n")
        up = embattn(
            "attention", "datasets", "upload", str(pairs), "--name", "rev-pairs", "--format", "tsv", **env
        )
        assert up.returncode == 0, up.stderr
        assert (
            "upload pairs.tsv" in up.stderr
            and dict(line.split(None, 1) for line in up.stdout.splitlines())["pairs"] == "5"
        )
        assert embattn("datasets", "upload", str(pairs), "--name", "rev-pairs", **env).returncode == 1  # 409
        listed = embattn("--json", "datasets", **env)
        assert json.loads(listed.stdout) == httpx.get(f"{url}/v1/datasets").json()
        table = embattn("attention", "datasets", "list", **env).stdout.splitlines()
        assert table[0].split()[:4] == ["ID", "KIND", "FORMAT", "PAIRS"] and table[1].split()[:4] == [
            "rev-pairs", "pairs", "tsv", "5",
        ]  # fmt: skip
        shown = json.loads(embattn("--json", "attention", "datasets", "show", "rev-pairs", **env).stdout)
        assert shown["sample"][0] == {"source": "abc", "target": "cba", "links": [[0, 2], [1, 1], [2, 0]]}
        train = embattn(
            "attention", "train", "--dataset-id", "rev-pairs", "--dev-dataset-id", "rev-pairs", "--name", "mine",
            "--epochs", "1", "--hidden", "8", "--config", "emb_dim=4", timeout=120, **env,
        )  # fmt: skip
        assert train.returncode == 0, train.stderr
        info = httpx.get(f"{url}/v1/models/mine").json()
        assert info["version"] == 1
        deleted = embattn("attention", "datasets", "delete", "rev-pairs", **env)
        assert deleted.returncode == 0 and deleted.stdout.strip() == "deleted dataset rev-pairs"
        assert json.loads(embattn("--json", "datasets", **env).stdout) == {"datasets": []}
        assert embattn("attention", "train", "--task", "copy", "--name", "x", "--embeddings-url", "http://e",
                       **env).returncode == 2  # fmt: skip
        health = embattn("--json", "attention", "health", "--ready", **env)
        assert health.returncode == 0 and json.loads(health.stdout)["status"] == "ready"
    finally:
        stop(proc)


def test_url_and_token_come_from_options_then_the_environment(monkeypatch):
    from service.cli.main import build_parser, make_client

    for var in (
        "EMBATTN_EMBEDDINGS_URL",
        "EMBATTN_ATTENTION_URL",
        "EMBATTN_TOKEN",
        "EMBATTN_EMBEDDINGS_TOKEN",
    ):
        monkeypatch.delenv(var, raising=False)

    def client_for(*argv):
        args = build_parser().parse_args(list(argv))
        for opt in ("url", "token", "timeout"):
            setattr(args, opt, getattr(args, opt, None))
        client = make_client(args)
        client.close()
        return client.base_url, client._http.token

    assert client_for("embeddings", "models") == ("http://127.0.0.1:8001", None)
    assert client_for("attention", "models") == ("http://127.0.0.1:8002", None)
    monkeypatch.setenv("EMBATTN_EMBEDDINGS_URL", "http://emb:9001")
    monkeypatch.setenv("EMBATTN_TOKEN", "shared")
    assert client_for("e", "models") == ("http://emb:9001", "shared")
    assert client_for("a", "jobs") == ("http://127.0.0.1:8002", "shared")
    monkeypatch.setenv("EMBATTN_EMBEDDINGS_TOKEN", "mine")
    assert client_for("e", "models") == ("http://emb:9001", "mine")
    # options win, and go before the group or after the command
    assert client_for("--url", "http://x:1", "e", "models", "--token", "t") == ("http://x:1", "t")


def test_a_large_import_is_followed_as_a_job(tmp_path):
    import numpy as np

    from tests.helpers import Server

    vectors = np.random.default_rng(2).standard_normal((300, 8)).astype("<f4")
    src = tmp_path / "v.bin"
    src.write_bytes(b"300 8\n" + b"".join(f"w{i} ".encode() + v.tobytes() for i, v in enumerate(vectors)))
    imports = tmp_path / "imports"
    imports.mkdir()
    (imports / "server.bin").write_bytes(src.read_bytes())
    env = {"EMBEDDINGS_IMPORT_JOB_BYTES": "1024", "EMBEDDINGS_IMPORT_DIR": str(imports)}
    with Server("embeddings", tmp_path / "data", env=env) as srv:
        proc = embattn("embeddings", "import", "big", str(src), url=srv.url)
        assert proc.returncode == 0, proc.stderr
        assert "vocab_size" in proc.stdout and "300" in proc.stdout, proc.stdout
        proc = embattn("embeddings", "import", "big", str(src), "--json", url=srv.url)
        assert proc.returncode == 1 and "model-exists" in proc.stdout + proc.stderr
        # a file already on the server (EMBEDDINGS_IMPORT_DIR): nothing uploaded, a job followed
        proc = embattn("import", "srv", "server.bin", "--on-server", "--limit", "100", url=srv.url)
        assert proc.returncode == 0, proc.stderr
        assert "import srv" in proc.stderr and "upload" not in proc.stderr
        assert httpx.get(f"{srv.url}/v1/models/srv").json()["vocab_size"] == 100
        outside = embattn("import", "x", "../v.bin", "--on-server", url=srv.url)
        assert outside.returncode == 1 and "422" in outside.stderr
