"""G2P benchmark: the built-in ``g2p`` split (CMUdict, test 3000 / dev 1000 / train 113,493 words) trained
through the attention service's HTTP API within a wall-clock budget, scored on the test words decoded
through the API (beam search), beside an existing PyPI G2P trainer (``deep-phonemizer``) trained on the
same split for the same budget, and the published figures.

The recommended full run: ours first, then the baseline, each alone with both cores (not
``--parallel``), into the same ``--out`` (``--budget-min 60`` for the hour; another ``--out``):

    .venv/bin/python bench/g2p_bench.py --threads 2 --budget-min 30 --skip-baseline \\
        --heatmap docs/g2p-heatmap.png --out bench/out/g2p-30.json      # ours alone, a little over 30 min
    .venv/bin/python bench/g2p_bench.py --threads 2 --budget-min 30 --skip-ours \\
        --out bench/out/g2p-30.json                                    # deep-phonemizer alone, the same
    .venv/bin/python bench/g2p_bench.py --short                            # tiny sizes, seconds

Ours: a real uvicorn subprocess on a free port over a fresh data dir (the default model is not trained),
one ``POST /v1/models`` job on the ``g2p`` task that stops on its own time budget: ``params.max_time_s``
= ``--safety`` x the budget minus ``--eval-reserve-s`` per dev evaluation made after the budget is spent
(the cut epoch's, plus the weight average's with ``--average-last`` > 1), ``epochs`` 200 (the most the
service accepts, never reached), so the trainer fits its linear decay to the updates it measures it can
make (``--epochs`` fixes the epochs instead; ``--calibrate`` times a short calibration job first and
chooses the epochs from it, as this benchmark did before ``max_time_s``). The recipe
(``--input-feeding``, ``--label-smoothing``, ``--average-last``, ``--eval-beam``, ``--select-by``) goes
into the request as is; the job's ``steps`` and ``stopped_by`` are recorded. Then the 3000 test words
are decoded by ``POST /v1/models/g2p/translate`` (beam ``--beam``) and scored here (PER: corpus edit
distance over the closest reference's length; WER: share of words matching no pronunciation),
cross-checked against the service's ``/evaluate`` (same beam) and the job's greedy ``test_metrics``.

Baseline: deep-phonemizer 0.0.19 in its own virtualenv (``bench/out/venv-dp``, created on first use with
``torch==2.13.0`` pinned), trained by its own ``Trainer`` on the same train words (dev for validation),
stopped at the same budget (this file re-run under that venv with ``--dp-worker``), its better of the
last and best-dev checkpoints predicting the same test words, scored by the same function.

The timings depend on the machine and its load (``uptime`` is recorded at start and end); nothing here
is asserted, the table is printed and written to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # also in deep-phonemizer's venv: the scoring below is the project's own

from models.seq2seq.metrics import edit_distance  # noqa: E402  (stdlib only: imports in either venv)

DP_VERSION = "0.0.19"
TORCH_PIN = "torch==2.13.0"  # the CPU build from the local wheel; never a looser pin (multi-GB CUDA builds)
LANG = "en_us"
PUBLISHED = [  # CMUdict test PER / WER as published (not run here); their splits differ slightly from ours
    ("Bisani & Ney 2008, joint-sequence (published, not run here)", "~107k", None, 0.0588, 0.2453),
    ("Yao & Zweig 2015, BiLSTM (published, not run here)", "~107k", None, 0.0545, 0.2355),
    ("Toshniwal & Livescu 2016, attention enc-dec (published, not run here)", "~107k", None, 0.0504, 0.2169),
]
MAX_EPOCHS = 200  # the service's bound on params.epochs: with max_time_s it never binds on the full split
SELECT_BY = ("token_error_rate", "sequence_error_rate", "exact_match", "loss")  # params.select_by
HEATMAP_WORDS = ("cellphone", "lightning", "geometric", "fifteenth", "lipstick", "quietly")


# ------------------------------------------------------------------------------------------ scoring


def score(
    hypotheses: Sequence[Sequence[str]], references: Sequence[Sequence[Sequence[str]]]
) -> dict[str, Any]:
    """PER and WER of phoneme hypotheses, each item having one or more reference pronunciations.

    PER = sum of the edits to each item's closest reference / sum of those references' lengths;
    WER = share of items equal to none of their references (any pronunciation counts as correct).
    """
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references")
    edits = length = wrong = 0
    for hyp, refs in zip(hypotheses, references, strict=True):
        if not refs:
            raise ValueError("an item without references")
        hyp = list(hyp)
        distances = [edit_distance(hyp, list(r)) for r in refs]
        best = distances.index(min(distances))
        edits += distances[best]
        length += len(refs[best])
        wrong += distances[best] != 0
    n = len(references)
    return {
        "n": n,
        "per": edits / max(length, 1),
        "wer": wrong / n if n else 0.0,
        "edits": edits,
        "ref_len": length,
    }


# ------------------------------------------------------------------------------------------ helpers


def load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover - not on Linux
        return []


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return f"load average: {load_average()}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def choose_epochs(
    budget_s: float,
    n_train: int,
    batch_size: int,
    step_s: float,
    dev_s: float,
    load_s: float,
    safety: float = 0.92,
    max_epochs: int = 200,
) -> int:
    """The most epochs whose estimated training time fits ``safety`` x the budget (at least 1).

    One epoch costs ``ceil(n_train / batch_size)`` steps of ``step_s`` plus one dev evaluation
    (``dev_s``); ``load_s`` is paid once (reading and encoding the data).
    """
    steps = math.ceil(n_train / batch_size)
    per_epoch = steps * step_s + dev_s
    return int(max(1, min(max_epochs, (budget_s * safety - load_s) // per_epoch)))


def max_time_for(budget_s: float, safety: float, final_evals: int, eval_reserve_s: float) -> float:
    """The ``params.max_time_s`` sent for a budget of ``budget_s`` seconds (at least 1 s).

    ``safety`` x the budget covers what the trainer's clock does not see (loading and encoding the
    split before training starts, the step running when the budget is spent); ``eval_reserve_s`` is kept
    for each of the ``final_evals`` dev evaluations made after it (the cut epoch's, the average's).

    >>> max_time_for(1800, 0.95, 2, 20.0)
    1670.0
    """
    return max(1.0, budget_s * safety - final_evals * eval_reserve_s)


def task_split(n_train: int | None, n_dev: int, n_test: int) -> Any:
    from models.seq2seq.tasks import g2p_task

    return g2p_task(n_train=n_train, n_dev=n_dev, n_test=n_test)


def references(example: Any) -> list[list[str]]:
    return [r.split() for r in example.references]


# ------------------------------------------------------------------------------------------ the service


class Service:
    """The attention service as a real uvicorn subprocess on a free port over a fresh data dir."""

    def __init__(self, threads: int, log: Path | None = None) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.data_dir = Path(tempfile.mkdtemp(prefix="g2p-bench-"))
        env = os.environ | {
            "ATTENTION_THREADS": str(threads),
            "ATTENTION_TRAIN_DEFAULT": "false",  # no dates model trained at start
            "ATTENTION_LOG_LEVEL": "warning",
            "ATTENTION_MAX_BATCH": "1000",
            "OMP_NUM_THREADS": str(threads),
            "MKL_NUM_THREADS": str(threads),
            # the machine is shared: sleeping (not spinning) OpenMP threads keep 2 threads from collapsing
            "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE"),
        }
        cmd = [
            sys.executable,
            "-m",
            "service",
            "attention",
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
        ]
        out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 (closed in stop)
        self._log = out
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 120) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the attention service exited with code {self.proc.returncode}")
            try:
                if httpx.get(f"{self.base}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"the attention service was not ready after {timeout}s")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self._log is not subprocess.DEVNULL:
            self._log.close()
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> Service:
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def train_job(http: Any, body: dict[str, Any], label: str, poll_s: float = 5.0) -> dict[str, Any]:
    """Submit ``POST /v1/models`` and poll the job until it ends; returns the ended job (history off)."""
    resp = http.post("/v1/models", json=body)
    if resp.status_code != 202:
        raise RuntimeError(f"{label}: POST /v1/models answered {resp.status_code}: {resp.text[:500]}")
    location = resp.headers.get("location") or resp.json()["location"]
    last = 0.0
    while True:
        job = http.get(location, params={"history": "false"}).json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            break
        if time.monotonic() - last > 60:
            last = time.monotonic()
            dev = job.get("dev_sequence_error_rate")
            print(
                f"  {label}: {job['status']}, epoch {job.get('epoch')}, step {job.get('step')}, "
                f"{job['progress']:.0%}, loss {job.get('train_loss') or float('nan'):.3f}"
                + (f", dev WER {dev:.2%}" if dev is not None else ""),
                flush=True,
            )
        time.sleep(poll_s)
    if job["status"] != "succeeded":
        raise RuntimeError(f"{label}: job {job['status']}: {job.get('error')}")
    return job


def decode(http: Any, name: str, words: list[str], beam: int, chunk: int = 500) -> list[list[str]]:
    """The service's beam-search answer for every word (``POST /translate``, ``chunk`` words a request)."""
    out: list[list[str]] = []
    for i in range(0, len(words), chunk):
        body = {"inputs": words[i : i + chunk], "return_attention": False}
        if beam > 1:
            body |= {"decode": "beam", "beam_size": beam}
        resp = http.post(f"/v1/models/{name}/translate", json=body)
        resp.raise_for_status()
        out += [o["output_tokens"] for o in resp.json()["outputs"]]
    return out


def training_request(
    args: argparse.Namespace, epochs: int | None = None, eval_reserve_s: float | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Returns the ``config`` and ``params`` of our ``POST /v1/models`` request.

    ``params.epochs`` is ``epochs`` (from the calibration), else ``--epochs``, else :data:`MAX_EPOCHS`
    (then ``params.max_time_s`` stops the job); ``params.max_time_s`` is :func:`max_time_for` the budget,
    keeping ``eval_reserve_s`` (default ``--eval-reserve-s``) for the cut epoch's dev evaluation and, with
    ``--average-last`` > 1, the average's. ``config.input_feeding`` is left out unless given.
    """
    config: dict[str, Any] = {
        "emb_dim": args.emb_dim,
        "hidden": args.hidden,
        "layers": args.layers,
        "bidirectional": True,
        "dropout": args.dropout,
        "attention": args.attention,
    }
    if args.input_feeding is not None:  # else the service's default
        config["input_feeding"] = args.input_feeding
    reserve_s = args.eval_reserve_s if eval_reserve_s is None else eval_reserve_s
    final_evals = 1 + (args.average_last > 1)
    params: dict[str, Any] = {
        "epochs": epochs or args.epochs or MAX_EPOCHS,
        "max_time_s": round(max_time_for(args.budget_min * 60, args.safety, final_evals, reserve_s), 1),
        "batch_size": args.batch_size,
        "lr": args.lr,
        "warmup_steps": args.warmup,
        "schedule": args.schedule,
        "label_smoothing": args.label_smoothing,
        "average_last": args.average_last,
        "eval_beam_size": args.eval_beam,
        "select_by": args.select_by,
    }
    if args.schedule == "linear":
        params["min_lr"] = args.min_lr
    return config, params


def run_ours(args: argparse.Namespace, task: Any) -> dict[str, Any]:
    import httpx

    budget_s = args.budget_min * 60
    task_spec: dict[str, Any] = {"name": "g2p", "n_dev": args.n_dev, "n_test": args.n_test}
    if args.n_train is not None:
        task_spec["n_train"] = args.n_train
    config, params = training_request(args)
    n_train = len(task.train)
    result: dict[str, Any] = {
        "system": "ours",
        "train_words": n_train,
        "budget_s": budget_s,
        "config": config,
        "recipe": recipe(args),
    }
    words = [e.source for e in task.test]
    refs = [references(e) for e in task.test]
    with (
        Service(args.threads, args.service_log) as svc,
        httpx.Client(base_url=svc.base, timeout=3600) as http,
    ):
        if args.epochs is None and args.calibrate:
            epochs, cal = calibrate(http, args, task_spec, config, params, n_train, budget_s)
            result["calibration"] = cal
            config, params = training_request(args, epochs, max(args.eval_reserve_s, cal["dev_eval_s"]))
        result["max_time_s"] = params["max_time_s"]
        print(f"ours: training {n_train} words, config {config}, params {params}", flush=True)
        t0 = time.perf_counter()
        job = train_job(http, {"name": "g2p", "task": task_spec, "config": config, "params": params}, "ours")
        result["job_wall_s"] = round(time.perf_counter() - t0, 1)
        info = http.get("/v1/models/g2p").json()
        result["training_time_s"] = info["training_time_s"]
        result["params"] = info["params"]
        if isinstance(info.get("config"), dict) and "input_feeding" in info["config"]:
            result["recipe"]["input_feeding"] = info["config"]["input_feeding"]  # what the service used
        result["dev_metrics"] = info["dev_metrics"]
        job_result = job.get("result") or {}
        result["steps"] = job_result.get("steps")
        result["stopped_by"] = job_result.get("stopped_by")
        result["average_kept"] = job_result.get("average_kept")
        result["within_budget"] = info["training_time_s"] <= budget_s
        greedy = info["test_metrics"] or {}
        result["service_test_metrics_greedy"] = {
            k: greedy.get(k) for k in ("n", "token_error_rate", "sequence_error_rate", "exact_match")
        }
        t0 = time.perf_counter()
        hyps = decode(http, "g2p", words, args.beam)
        result["decode_s"] = round(time.perf_counter() - t0, 1)
        result["beam"] = args.beam
        result["test"] = score(hyps, refs)
        ev = http.post(
            "/v1/models/g2p/evaluate", json={"split": "test", "decode": "beam", "beam_size": args.beam}
        )
        ev.raise_for_status()
        ev = ev.json()
        result["service_evaluate_beam"] = {k: ev[k] for k in ("n", "token_error_rate", "sequence_error_rate")}
        result["samples"] = [
            {"word": w, "output": " ".join(h), "references": [" ".join(r) for r in rs]}
            for w, h, rs in list(zip(words, hyps, refs, strict=True))[:10]
        ]
        if args.heatmap:
            word = heatmap_word(words, hyps, refs)
            png = http.get(
                "/v1/models/g2p/attention.png",
                params={"input": word, "decode": "beam", "beam_size": args.beam},
            )
            png.raise_for_status()
            args.heatmap.parent.mkdir(parents=True, exist_ok=True)
            args.heatmap.write_bytes(png.content)
            result["heatmap"] = {"path": str(args.heatmap), "word": word}
    return result


def recipe(args: argparse.Namespace) -> dict[str, Any]:
    """Our training recipe as sent (``input_feeding`` None: the service's default, replaced by what the
    trained model reports once it exists)."""
    epochs = args.epochs if args.epochs is not None else "calibrated" if args.calibrate else "max_time_s"
    return {
        "input_feeding": args.input_feeding,
        "label_smoothing": args.label_smoothing,
        "average_last": args.average_last,
        "eval_beam_size": args.eval_beam,
        "select_by": args.select_by,
        "schedule": args.schedule,
        "epochs": epochs,
    }


def recipe_line(r: dict[str, Any]) -> str:
    """Returns the table's footer line naming our recipe (``r``: :func:`recipe`'s dict)."""
    feeding = {True: "input feeding", False: "no input feeding"}.get(
        r.get("input_feeding"), "input feeding: the service's default"
    )
    return (
        f"ours: {feeding}, label smoothing {r.get('label_smoothing')}, average of the last "
        f"{r.get('average_last')}, dev beam {r.get('eval_beam_size')}, kept by {r.get('select_by')}, "
        f"{r.get('schedule')} lr"
    )


def heatmap_word(words: list[str], hyps: list[list[str]], refs: list[list[list[str]]]) -> str:
    """A test word decoded right: one of :data:`HEATMAP_WORDS` when in the split, else a 7-9 letter one."""
    right = {w for w, h, rs in zip(words, hyps, refs, strict=True) if list(h) in [list(r) for r in rs]}
    for w in HEATMAP_WORDS:
        if w in right:
            return w
    candidates = [w for w in words if w in right and 7 <= len(w) <= 9] or sorted(right) or words
    return candidates[0]


def calibrate(
    http: Any,
    args: argparse.Namespace,
    task_spec: dict[str, Any],
    config: dict[str, Any],
    params: dict[str, Any],
    n_train: int,
    budget_s: float,
) -> tuple[int, dict[str, Any]]:
    """Time a short job (``--calibration-steps`` steps, tiny dev) and a dev-sized evaluation (at
    ``--eval-beam``), then choose the epochs that fit the budget (:func:`choose_epochs`); only with
    ``--calibrate``. Returns the epochs and the measurements."""
    steps = max(10, args.calibration_steps)
    n_cal = min(n_train, steps * args.batch_size)
    spec = task_spec | {"n_train": n_cal, "n_dev": 10, "n_test": 10}
    skip = ("min_lr", "average_last", "eval_beam_size", "select_by", "max_time_s")
    cal_params = {k: v for k, v in params.items() if k not in skip} | {"epochs": 1, "schedule": "constant"}
    # a 10-step job first: its time is the fixed cost (start of the job, data loading, the tiny test)
    small = spec | {"n_train": min(n_cal, 10 * args.batch_size)}
    t0 = time.perf_counter()
    train_job(
        http, {"name": "calib0", "task": small, "config": config, "params": cal_params}, "calibration", 0.2
    )
    fixed_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    train_job(
        http, {"name": "calib", "task": spec, "config": config, "params": cal_params}, "calibration", 0.2
    )
    big_s = time.perf_counter() - t0
    n_steps_big = math.ceil(n_cal / args.batch_size)
    n_steps_small = math.ceil(small["n_train"] / args.batch_size)
    step_s = max(1e-4, (big_s - fixed_s) / max(1, n_steps_big - n_steps_small))
    # one dev evaluation as the trainer does it (greedy, teacher-forced loss), on dev-sized pairs
    from_dev = task_split(
        None if "n_train" not in task_spec else task_spec["n_train"], args.n_dev, args.n_test
    )
    pairs = [[e.source, e.target] for e in from_dev.dev]
    t0 = time.perf_counter()
    beam = {"decode": "beam", "beam_size": args.eval_beam} if args.eval_beam > 1 else {}
    http.post("/v1/models/calib/evaluate", json={"pairs": pairs[:1000]} | beam).raise_for_status()
    dev_s = (time.perf_counter() - t0) * len(pairs) / max(1, len(pairs[:1000]))
    info = http.get("/v1/models/calib").json()
    load_s = max(0.0, fixed_s - n_steps_small * step_s) + 10.0  # + the full split's encoding
    epochs = choose_epochs(budget_s, n_train, args.batch_size, step_s, dev_s, load_s, args.safety)
    cal = {
        "steps": n_steps_big,
        "step_s": round(step_s, 4),
        "examples_per_s": round(args.batch_size / step_s, 1),
        "dev_eval_s": round(dev_s, 2),
        "fixed_s": round(fixed_s, 2),
        "job_training_time_s": info.get("training_time_s"),
        "epoch_estimate_s": round(math.ceil(n_train / args.batch_size) * step_s + dev_s, 1),
        "safety": args.safety,
    }
    print(f"calibration: {cal} -> {epochs} epochs", flush=True)
    for name in ("calib0", "calib"):
        http.delete(f"/v1/models/{name}")
    return epochs, cal


# ------------------------------------------------------------------------------------------ deep-phonemizer


def dp_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def ensure_dp_venv(venv: Path) -> str | None:
    """Create the deep-phonemizer virtualenv on first use; None when ready, else why it cannot be."""
    py = dp_python(venv)
    check = [str(py), "-c", "import dp, torch; assert torch.__version__.startswith('2.13.0')"]
    if py.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return None
    print(f"deep-phonemizer: creating {venv} ({TORCH_PIN}, deep-phonemizer=={DP_VERSION})", flush=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(py), "-m", "pip", "install", "-q", TORCH_PIN, f"deep-phonemizer=={DP_VERSION}"]
        proc = subprocess.run(pip, capture_output=True, text=True, timeout=1800)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"cannot create the virtualenv: {exc}"
    if proc.returncode != 0:
        return f"pip install failed: {proc.stderr.strip()[-500:]}"
    if subprocess.run(check, capture_output=True).returncode != 0:
        return "installed, but `import dp, torch` (torch 2.13.0) fails in the new virtualenv"
    return None


def dp_config(
    args: argparse.Namespace, phonemes: list[str], work: Path, steps_per_epoch: int
) -> dict[str, Any]:
    return {
        "paths": {"checkpoint_dir": str(work / "checkpoints"), "data_dir": str(work / "datasets")},
        "preprocessing": {
            "languages": [LANG],
            "text_symbols": "abcdefghijklmnopqrstuvwxyz",
            "phoneme_symbols": phonemes,
            "char_repeats": 1 if args.dp_model == "autoreg_transformer" else 3,
            "lowercase": True,
            "n_val": 1000,
        },
        "model": {
            "type": args.dp_model,
            "d_model": args.dp_d_model,
            "d_fft": args.dp_d_fft,
            "layers": args.dp_layers,
            "dropout": 0.1,
            "heads": args.dp_heads,
        },
        "training": {
            "learning_rate": args.dp_lr,
            "warmup_steps": args.dp_warmup,
            "scheduler_plateau_factor": 0.5,
            "scheduler_plateau_patience": 10,
            "batch_size": args.dp_batch_size,
            "batch_size_val": 64,
            "epochs": 1000,  # bounded by the budget instead
            "generate_steps": steps_per_epoch,  # dev PER/WER once an epoch (best_model.pt), as ours
            "validate_steps": steps_per_epoch,
            "checkpoint_steps": 10**9,
            "n_generate_samples": 10,
            "store_phoneme_dict_in_model": False,
            "ddp_backend": "gloo",
            "ddp_host": "localhost",
            "ddp_post": "12355",
        },
    }


def run_dp(args: argparse.Namespace, task: Any) -> dict[str, Any]:
    budget_s = args.budget_min * 60
    result: dict[str, Any] = {
        "system": f"deep-phonemizer {DP_VERSION}",
        "train_words": len(task.train),
        "budget_s": budget_s,
    }
    why = ensure_dp_venv(args.dp_venv)
    if why:
        result["error"] = why
        return result
    phonemes = sorted({p for e in task.train for p in e.target.split()})
    steps_per_epoch = len(task.train) // args.dp_batch_size
    work = Path(tempfile.mkdtemp(prefix="g2p-dp-"))
    try:
        config = dp_config(args, phonemes, work, steps_per_epoch)
        result["config"] = config["model"] | {
            k: config["training"][k] for k in ("learning_rate", "warmup_steps", "batch_size")
        }
        data = {
            "config": config,
            "budget_s": budget_s,
            "threads": args.threads,
            "train": [[e.source, e.target.split()] for e in task.train],
            "dev": [[e.source, e.target.split()] for e in task.dev],
            "dev_refs": [references(e) for e in task.dev],
            "test": [e.source for e in task.test],
        }
        (work / "input.json").write_text(json.dumps(data))
        env = os.environ | {
            "OMP_NUM_THREADS": str(args.threads),
            "MKL_NUM_THREADS": str(args.threads),
            "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE"),
        }
        log = args.dp_log or work / "dp.log"
        print(
            f"deep-phonemizer: training {len(task.train)} words for {budget_s:.0f} s, {result['config']}",
            flush=True,
        )
        cmd = [str(dp_python(args.dp_venv)), str(Path(__file__).resolve()), "--dp-worker", str(work)]
        t0 = time.perf_counter()
        with open(log, "ab") as fh:
            try:
                proc = subprocess.run(
                    cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, timeout=budget_s + 1800
                )
                rc: int | str = proc.returncode
            except subprocess.TimeoutExpired:
                rc = "timeout"
        result["worker_wall_s"] = round(time.perf_counter() - t0, 1)
        out_file = work / "output.json"
        if rc != 0 or not out_file.exists():
            tail = Path(log).read_text(errors="replace")[-1500:] if Path(log).exists() else ""
            result["error"] = f"the deep-phonemizer worker ended with {rc}: ...{tail[-600:]}"
            return result
        out = json.loads(out_file.read_text())
        result |= {k: out[k] for k in ("training_time_s", "steps", "epochs", "stopped", "checkpoint", "dev")}
        result["within_budget"] = out["training_time_s"] <= budget_s + 5  # one step past the stop check
        result["test"] = score(out["test_hyps"], [references(e) for e in task.test])
        result["decode_s"] = out.get("decode_s")
        result["samples"] = [
            {"word": e.source, "output": " ".join(h), "references": e.references}
            for e, h in list(zip(task.test, out["test_hyps"], strict=True))[:10]
        ]
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)


class _StopTraining(Exception):
    """Raised inside deep-phonemizer's training loop at the budget."""


def dp_worker(work: Path) -> int:
    """Runs under the deep-phonemizer virtualenv: preprocess, train until the budget, predict."""
    started = time.perf_counter()
    data = json.loads((work / "input.json").read_text())
    import torch
    import yaml
    from dp.model.model import ModelType, create_model
    from dp.model.predictor import Predictor
    from dp.preprocess import preprocess
    from dp.preprocessing.text import Preprocessor
    from dp.training.trainer import Trainer

    torch.set_num_threads(int(data["threads"]))
    deadline = started + float(data["budget_s"])
    config = data["config"]
    config_file = work / "config.yaml"
    config_file.write_text(yaml.safe_dump(config))
    preprocess(
        config_file=str(config_file),
        train_data=[(LANG, w, p) for w, p in data["train"]],
        val_data=[(LANG, w, p) for w, p in data["dev"]],
        deduplicate_train_data=True,
    )
    model_type = ModelType(config["model"]["type"])
    preprocessor = Preprocessor.from_config(config)
    model = create_model(model_type, config=config)
    checkpoint: dict[str, Any] = {"preprocessor": preprocessor, "config": config}
    steps = {"n": 0}

    def bounded(method: Any) -> Any:
        def wrapper(self: Any, *a: Any, **kw: Any) -> Any:
            if time.perf_counter() >= deadline:
                raise _StopTraining
            return method(self, *a, **kw)

        return wrapper

    original_warmup = Trainer._set_warmup_lr

    def warmup_and_check(self: Any, optimizer: Any, step: int, config: dict[str, Any]) -> None:
        if time.perf_counter() >= deadline:
            raise _StopTraining
        steps["n"] = step
        original_warmup(self, optimizer=optimizer, step=step, config=config)

    Trainer._set_warmup_lr = warmup_and_check
    Trainer._generate_samples = bounded(Trainer._generate_samples)
    Trainer._validate = bounded(Trainer._validate)
    ckpt_dir = Path(config["paths"]["checkpoint_dir"])
    trainer = Trainer(
        checkpoint_dir=ckpt_dir,
        device=torch.device("cpu"),
        rank=0,
        use_ddp=False,
        loss_type="cross_entropy" if model_type.is_autoregressive() else "ctc",
    )
    stopped = "completed"
    try:
        trainer.train(model=model, checkpoint=checkpoint, store_phoneme_dict_in_model=False)
    except _StopTraining:
        stopped = "budget"
    training_time_s = time.perf_counter() - started
    model.eval()

    def predict(m: Any, words: list[str]) -> list[list[str]]:
        predictor = Predictor(model=m, preprocessor=preprocessor)
        raw = predictor._predict_batch(texts=sorted(set(words), key=len), batch_size=64, language=LANG)
        tok = preprocessor.phoneme_tokenizer
        return [tok.decode(raw[w][0], remove_special_tokens=True) if w in raw else [] for w in words]

    dev_words = [w for w, _ in data["dev"]]
    candidates = {"last": model}
    best_file = ckpt_dir / "best_model.pt"
    if best_file.exists():
        saved = torch.load(best_file, map_location="cpu", weights_only=False)  # our own file
        best = create_model(model_type, config=saved["config"])
        best.load_state_dict(saved["model"])
        best.eval()
        candidates["best_dev"] = best
    dev_scores = {k: score(predict(m, dev_words), data["dev_refs"]) for k, m in candidates.items()}
    chosen = min(dev_scores, key=lambda k: (dev_scores[k]["wer"], dev_scores[k]["per"]))
    t0 = time.perf_counter()
    test_hyps = predict(candidates[chosen], data["test"])
    decode_s = time.perf_counter() - t0
    n_train = len(data["train"])
    out = {
        "training_time_s": round(training_time_s, 1),
        "steps": steps["n"],
        "epochs": round(steps["n"] * config["training"]["batch_size"] / n_train, 2),
        "stopped": stopped,
        "checkpoint": chosen,
        "dev": {k: {"per": v["per"], "wer": v["wer"]} for k, v in dev_scores.items()},
        "decode_s": round(decode_s, 1),
        "test_hyps": test_hyps,
    }
    (work / "output.json").write_text(json.dumps(out))
    print(json.dumps({k: v for k, v in out.items() if k != "test_hyps"}), flush=True)
    return 0


# ------------------------------------------------------------------------------------------ report


def fmt_time(s: float | None) -> str:
    return "-" if s is None else f"{s / 60:.1f} min ({s:.0f} s)"


def table(results: dict[str, Any]) -> str:
    rows = [("system", "train words", "training time", "steps", "stopped by", "test PER", "test WER")]
    for key in ("ours", "deep-phonemizer"):
        r = results.get(key)
        if r is None:
            continue
        name = (
            r["system"] if key != "ours" else f"ours: GRU enc-dec + attention via HTTP (beam {r.get('beam')})"
        )
        if "error" in r:
            rows.append((f"{name}: NOT RUN ({r['error'][:80]})", str(r["train_words"]), *["-"] * 5))
            continue
        t = r["test"]
        rows.append(
            (
                name,
                f"{r['train_words']:,}",
                fmt_time(r["training_time_s"]),
                "-" if r.get("steps") is None else f"{r['steps']:,}",
                str(r.get("stopped_by") or r.get("stopped") or "-"),
                f"{t['per']:.2%}",
                f"{t['wer']:.2%}",
            )
        )
    for name, words, secs, per, wer in PUBLISHED:
        time_ = "-" if secs is None else fmt_time(secs)
        rows.append((name, words, time_, "-", "-", f"{per:.2%}", f"{wer:.2%}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "-|-".join("-" * w for w in widths))
    if "recipe" in results.get("ours", {}):
        lines.append(recipe_line(results["ours"]["recipe"]))
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--budget-min", type=float, default=30.0, help="training budget per system, minutes")
    p.add_argument(
        "--n-train", type=int, default=None, help="train words (default: every word not in dev/test)"
    )
    p.add_argument("--n-dev", type=int, default=1000)
    p.add_argument("--n-test", type=int, default=3000)
    p.add_argument(
        "--short",
        "--quick",  # its former name
        dest="short",
        action="store_true",
        help="tiny sizes, seconds (300 train, 20 dev, 50 test, 1 epoch, no baseline; the suite runs it)",
    )
    p.add_argument("--threads", type=int, default=2, help="torch threads of the service and of the baseline")
    p.add_argument(
        "--epochs",
        type=int,
        default=None,
        help=f"ours: fixed epochs (default: {MAX_EPOCHS}, never reached: params.max_time_s stops the job)",
    )
    p.add_argument(
        "--calibrate",
        action="store_true",
        help="ours: time a short calibration job first and choose the epochs from it (max_time_s still caps)",
    )
    p.add_argument("--calibration-steps", type=int, default=100, help="with --calibrate")
    p.add_argument(
        "--safety",
        type=float,
        default=0.95,
        help="share of the budget given as params.max_time_s (before --eval-reserve-s; with --calibrate, "
        "also the share the chosen epochs may fill)",
    )
    p.add_argument(
        "--eval-reserve-s",
        type=float,
        default=20.0,
        help="seconds kept out of max_time_s per dev evaluation made after it is spent (the cut epoch's, "
        "the average's); with --calibrate at least the measured dev evaluation",
    )
    p.add_argument(
        "--input-feeding",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="config.input_feeding (default: left out, the service's default, currently false)",
    )
    p.add_argument("--label-smoothing", type=float, default=0.1, help="params.label_smoothing, in [0, 1)")
    p.add_argument(
        "--average-last", type=int, default=3, help="params.average_last: average the last k epochs (1: off)"
    )
    p.add_argument(
        "--eval-beam", type=int, default=1, help="params.eval_beam_size: dev decode beam (1: greedy)"
    )
    p.add_argument(
        "--select-by", default="token_error_rate", choices=SELECT_BY, help="params.select_by (dev metric)"
    )
    p.add_argument("--emb-dim", type=int, default=64)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--dropout", type=float, default=0.2)
    p.add_argument("--attention", default="luong-general")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--schedule", default="linear", choices=["constant", "linear"])
    p.add_argument("--warmup", type=int, default=500)
    p.add_argument("--min-lr", type=float, default=1e-4)
    p.add_argument("--beam", type=int, default=5, help="beam size of the test decode (1: greedy)")
    p.add_argument("--heatmap", type=Path, default=None, help="write the PNG heatmap of one test word here")
    p.add_argument("--skip-ours", action="store_true", help="keep ours from --out (run only the baseline)")
    p.add_argument(
        "--skip-baseline", action="store_true", help="keep the baseline from --out (run only ours)"
    )
    p.add_argument(
        "--parallel",
        action="store_true",
        help="train both systems at the same time, each on --threads threads (use --threads 1 on 2 cores)",
    )
    p.add_argument("--dp-venv", type=Path, default=ROOT / "bench" / "out" / "venv-dp")
    p.add_argument("--dp-model", default="transformer", choices=["transformer", "autoreg_transformer"])
    p.add_argument("--dp-d-model", type=int, default=256)
    p.add_argument("--dp-d-fft", type=int, default=1024)
    p.add_argument("--dp-layers", type=int, default=4)
    p.add_argument("--dp-heads", type=int, default=4)
    p.add_argument("--dp-batch-size", type=int, default=64)
    p.add_argument("--dp-lr", type=float, default=5e-4)
    p.add_argument("--dp-warmup", type=int, default=2000)
    p.add_argument(
        "--dp-log", type=Path, default=None, help="deep-phonemizer's training log (default: discarded)"
    )
    p.add_argument("--service-log", type=Path, default=None, help="the service's log (default: discarded)")
    p.add_argument(
        "--out", type=Path, default=None, help="JSON results (systems not run now are kept from it)"
    )
    p.add_argument("--dp-worker", type=Path, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.short:
        args.n_train, args.n_dev, args.n_test = args.n_train or 300, 20, 50
        args.epochs = args.epochs or 1
        args.skip_baseline = True
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.dp_worker is not None:
        return dp_worker(args.dp_worker)
    results: dict[str, Any] = {}
    if args.out and args.out.exists():
        results = json.loads(args.out.read_text())
    if args.skip_ours and args.skip_baseline:  # table only: print what --out holds
        results["table"] = table(results)
        save(args.out, results)
        report(results)
        return 0
    results["run"] = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "uptime_start": uptime(),
        "threads": args.threads,
        "parallel": bool(args.parallel and not (args.skip_ours or args.skip_baseline)),
    }
    print(f"start: {results['run']['uptime_start']}", flush=True)
    task = task_split(args.n_train, args.n_dev, args.n_test)

    def baseline() -> None:
        start = uptime()
        results["deep-phonemizer"] = run_dp(args, task) | {"uptime_start": start, "uptime_end": uptime()}
        save(args.out, results)

    worker = None
    if not args.skip_baseline and results["run"]["parallel"]:
        # both systems at once, each on --threads threads (1 each on a 2-core machine): the same wall clock
        worker = threading.Thread(target=baseline, name="deep-phonemizer")
        worker.start()
    if not args.skip_ours:
        start = uptime()
        try:
            results["ours"] = run_ours(args, task) | {"uptime_start": start, "uptime_end": uptime()}
        finally:
            if worker is not None:
                worker.join()
        save(args.out, results)
    if not args.skip_baseline and worker is None:
        baseline()
    results["run"]["uptime_end"] = uptime()
    results["table"] = table(results)
    save(args.out, results)
    print(f"end: {results['run']['uptime_end']}")
    report(results)
    return 0


def report(results: dict[str, Any]) -> None:
    print()
    print(results["table"])
    for key in ("ours", "deep-phonemizer"):
        r = results.get(key, {})
        if "test" in r:
            extra = ""
            if key == "ours":
                ev, gr = r["service_evaluate_beam"], r["service_test_metrics_greedy"]
                extra = (
                    f"; service /evaluate beam {r['beam']}: PER {ev['token_error_rate']:.2%} WER "
                    f"{ev['sequence_error_rate']:.2%}; job test_metrics (greedy): PER "
                    f"{gr['token_error_rate']:.2%} WER {gr['sequence_error_rate']:.2%}"
                )
                extra += (
                    f"; steps {r.get('steps')}, stopped by {r.get('stopped_by')}, max_time_s "
                    f"{r.get('params', {}).get('max_time_s')}, average kept {r.get('average_kept')}, "
                    f"recipe {r.get('recipe')}"
                )
            print(f"{key}: within budget {r.get('within_budget')}, config {r.get('config')}{extra}")


def save(path: Path | None, results: dict[str, Any]) -> None:
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    sys.exit(main())
