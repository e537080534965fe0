"""Attention service benchmark: starts the real service (uvicorn subprocess, fresh data dir), lets it
train the default ``dates`` model, then measures over real HTTP:

* 1,000 date inputs translated in one request vs 1,000 single-input requests (target >= 20x);
* batched inference throughput through HTTP vs the same model called in-process (target >= 0.7x);
* the share of padding in length-bucketed training batches vs unbucketed random batches;
* the default model's training time and test exact match;
* in-process, after the service: decoder training speed on g2p batches of 128 (hidden 256), with and
  without input feeding, with and without bf16 autocast, at 1 and 2 torch threads, and the training
  time each needs to reach the input-feeding baseline's dev loss (:func:`decoder_training_rows`).

    .venv/bin/python bench/attention_bench.py [--threads 1] [--n 1000] [--heatmap docs/attention-dates.png]
    .venv/bin/python bench/attention_bench.py --short   # seconds: 100 inputs, a small dates model
    .venv/bin/python bench/attention_bench.py --decoder-only   # only the decoder training speed (~3 min)

``--short`` starts the service without its default model and trains a small ``dates`` model through
``POST /v1/models`` (bench/short.py), then measures the same figures on 100 inputs, once each, and
the decoder section at hidden 32, 1 thread, 2 s per variant.

Timings are best-of-``--repeats``; on a shared machine, other processes' load shows in them.
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import short  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(base: str, proc: subprocess.Popen, timeout: float) -> float:
    """Wait for /readyz (the default model trained and loaded), printing the job's progress."""
    start = time.perf_counter()
    last_print = 0.0
    while time.perf_counter() - start < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"the service exited with code {proc.returncode}")
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return time.perf_counter() - start
            if time.perf_counter() - last_print > 10:
                last_print = time.perf_counter()
                jobs = httpx.get(f"{base}/v1/jobs", params={"model": "dates"}, timeout=5).json()["jobs"]
                if jobs:
                    j = jobs[0]
                    print(
                        f"  default model: {j['status']}, step {j.get('step')}, {j['progress']:.0%}",
                        flush=True,
                    )
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"service not ready after {timeout}s")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()


def padding_shares(batch_size: int, seed: int = 0) -> tuple[float, float]:
    """Padded share of source cells: bucketed batches (the trainer's sampler) vs random batches."""
    from models.padding import BucketBatchSampler, padding_fraction
    from models.seq2seq.recipes import DEFAULT_DATES_RECIPE
    from models.seq2seq.tasks import dates_task

    task = dates_task(**DEFAULT_DATES_RECIPE["task"])
    lengths = [len(e.source) for e in task.train]
    bucketed = BucketBatchSampler(lengths, batch_size, shuffle=True, seed=seed)
    order = np.random.default_rng(seed).permutation(len(lengths)).tolist()
    random_batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    return bucketed.padding_fraction(), padding_fraction(lengths, random_batches)


#: The decoder-speed section's model: the g2p benchmark's defaults (bench/g2p_bench.py), batch 128.
DECODER_CONFIG = {
    "emb_dim": 64,
    "hidden": 256,
    "layers": 1,
    "dropout": 0.2,
    "attention": "luong-general",
    "tokenization": {"source": "char", "target": "word"},
    "max_src_len": 40,
    "max_tgt_len": 40,
}
#: (name, input_feeding, autocast) of the measured variants; the first is today's baseline.
DECODER_VARIANTS = (
    ("input feeding (step loop)", True, None),
    ("input feeding + bf16 autocast", True, "bf16"),
    ("no input feeding (fused)", False, None),
    ("no input feeding (fused) + bf16 autocast", False, "bf16"),
)


def decoder_training_rows(
    short: bool, threads: Sequence[int], budget_s: float, batch_size: int = 128
) -> list[tuple[str, str, str]]:
    """Training speed of the decoder variants (:data:`DECODER_VARIANTS`) on g2p-like data, in-process.

    * steps/s at equal batch size: the same length-bucketed g2p batches, forward + loss + backward +
      clipping + Adam, at each torch thread count of ``threads``, ratio to the first variant (the
      variants take turns, 3 rounds of 2 steps, best round kept);
    * time to dev loss: each variant trains ``budget_s`` seconds (1 thread, dev loss measured every
      tenth of it, off the clock); the target is the baseline's final dev loss, reported with the
      training seconds each variant needed to reach it. A bf16 variant slower per step than the
      baseline at 1 thread is skipped (it cannot reach a loss sooner at equal quality per step).
    """
    import contextlib

    import torch
    from torch.nn import functional as F

    from models.seq2seq.data import encode_examples, iterate_batches
    from models.seq2seq.model import Seq2Seq, Seq2SeqConfig
    from models.seq2seq.tasks import g2p_task
    from models.seq2seq.training import TrainParams, build_model

    task = g2p_task(n_train=2000 if short else 20000, n_dev=200 if short else 1000, n_test=100)
    base_cfg = Seq2SeqConfig.from_dict(DECODER_CONFIG | {"hidden": 32 if short else 256})
    vocab_model = build_model(base_cfg, task.train, TrainParams())

    def encode(examples):
        return encode_examples(
            examples,
            vocab_model.src_tokenizer,
            vocab_model.src_vocab,
            vocab_model.tgt_vocab,
            base_cfg.max_src_len,
            base_cfg.max_tgt_len,
            tgt_tokenizer=vocab_model.tgt_tokenizer,
        )

    train_data, dev_data = encode(task.train), encode(task.dev)
    pad = vocab_model.tgt_vocab.pad_id
    dev_batches = list(iterate_batches(dev_data, vocab_model.tgt_vocab, 256))

    def fresh(input_feeding: bool) -> tuple[Seq2Seq, torch.optim.Optimizer]:
        torch.manual_seed(0)
        cfg = Seq2SeqConfig.from_dict(base_cfg.to_dict() | {"input_feeding": input_feeding})
        model = Seq2Seq(cfg, vocab_model.src_vocab, vocab_model.tgt_vocab).train()
        return model, torch.optim.Adam(model.parameters(), lr=3e-3)

    def update(model, opt, batch, autocast) -> float:
        ctx = torch.autocast("cpu", dtype=torch.bfloat16) if autocast == "bf16" else contextlib.nullcontext()
        with ctx:
            logits, _ = model(batch.src, batch.src_lengths, batch.tgt_in)  # (B, T, V), (B, T, S)
            loss = F.cross_entropy(logits.float().flatten(0, 1), batch.tgt_out.flatten(), ignore_index=pad)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss.item()

    @torch.no_grad()
    def dev_loss(model) -> float:
        model.eval()
        total, n = 0.0, 0
        for b in dev_batches:
            logits, _ = model(b.src, b.src_lengths, b.tgt_in)  # fp32, as the trainer's evaluation
            total += F.cross_entropy(
                logits.flatten(0, 1), b.tgt_out.flatten(), ignore_index=pad, reduction="sum"
            ).item()
            n += int((b.tgt_out != pad).sum())
        model.train()
        return total / n

    def batches(epoch: int):
        return iterate_batches(train_data, vocab_model.tgt_vocab, batch_size, shuffle=True, epoch=epoch)

    rows: list[tuple[str, str, str]] = []
    rounds, per_round = (1, 1) if short else (3, 2)
    timed = list(itertools.islice(batches(0), rounds * per_round + 1))
    rates_at_1: list[float] = []
    previous_threads = torch.get_num_threads()
    try:
        for n_threads in threads:
            torch.set_num_threads(n_threads)
            models = [fresh(input_feeding) for _, input_feeding, _ in DECODER_VARIANTS]
            for (_, _, autocast), (model, opt) in zip(DECODER_VARIANTS, models, strict=True):
                update(model, opt, timed[0], autocast)  # warm-up
            best = [float("inf")] * len(DECODER_VARIANTS)
            # round-robin, best round kept: load from other processes hits every variant alike
            for r in range(rounds):
                round_batches = timed[1 + r * per_round : 1 + (r + 1) * per_round]
                for i, ((_, _, autocast), (model, opt)) in enumerate(
                    zip(DECODER_VARIANTS, models, strict=True)
                ):
                    t0 = time.perf_counter()
                    for b in round_batches:
                        update(model, opt, b, autocast)
                    best[i] = min(best[i], (time.perf_counter() - t0) / per_round)
            rates = [1.0 / s for s in best]
            if n_threads == 1:
                rates_at_1 = rates
            for (name, _, _), rate in zip(DECODER_VARIANTS, rates, strict=True):
                rows.append(
                    (
                        f"train steps/s, batch {batch_size}, {n_threads} thread(s): {name}",
                        f"{rate:.2f} ({rate / rates[0]:.2f}x)",
                        ">= 2x" if name == DECODER_VARIANTS[2][0] else "",
                    )
                )
        torch.set_num_threads(1)
        curves = []  # per variant: [(training seconds, dev loss)], empty when skipped
        for i, (_, input_feeding, autocast) in enumerate(DECODER_VARIANTS):
            if autocast and rates_at_1 and rates_at_1[i] < rates_at_1[0]:
                curves.append([])  # slower per step than the baseline: it cannot win per minute
                continue
            model, opt = fresh(input_feeding)
            curve, clock, epoch, next_eval = [], 0.0, 0, budget_s / 10
            while clock < budget_s:
                for b in batches(epoch):
                    t0 = time.perf_counter()
                    update(model, opt, b, autocast)
                    clock += time.perf_counter() - t0
                    if clock >= next_eval or clock >= budget_s:
                        curve.append((clock, dev_loss(model)))
                        next_eval += budget_s / 10
                    if clock >= budget_s:
                        break
                epoch += 1
            curves.append(curve)
    finally:
        torch.set_num_threads(previous_threads)
    target = curves[0][-1][1]
    for (name, _, _), curve in zip(DECODER_VARIANTS, curves, strict=True):
        if not curve:
            rows.append((f"time to dev loss: {name}", "skipped", "slower per step (1 thread)"))
            continue
        reached = next((s for s, loss in curve if loss <= target), None)
        rows.append(
            (
                f"dev loss after {budget_s:.0f} s training (1 thread): {name}",
                f"{curve[-1][1]:.3f}",
                "",
            )
        )
        rows.append(
            (
                f"seconds to dev loss {target:.3f} (the baseline's final): {name}",
                f"{reached:.1f} s" if reached is not None else "not reached",
                "",
            )
        )
    return rows


def service_rows(args: argparse.Namespace) -> list[tuple[str, str, str]]:
    """The service figures (module docstring), with the in-process baseline, as table rows."""
    from models.seq2seq.recipes import DEFAULT_DATES_RECIPE
    from models.seq2seq.tasks import dates_task

    task = dates_task(**DEFAULT_DATES_RECIPE["task"])
    inputs = [e.source for e in task.test][: args.n]
    while len(inputs) < args.n:
        inputs += inputs[: args.n - len(inputs)]

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    data_dir = Path(tempfile.mkdtemp(prefix="attention-bench-"))
    env = os.environ | {
        "ATTENTION_THREADS": str(args.threads),
        "ATTENTION_TRAIN_DEFAULT": "false" if args.short else "true",
        "ATTENTION_LOG_LEVEL": "warning",
        "ATTENTION_MAX_BATCH": str(max(1000, args.n)),
    }
    cmd = [sys.executable, "-m", "service", "attention", "--port", str(port), "--data-dir", str(data_dir)]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rows: list[tuple[str, str, str]] = []
    try:
        ready_s = wait_ready(base, proc, timeout=args.ready_timeout)
        model = "default model"
        if args.short:  # the small recipe's job instead of the default one's (bench/short.py)
            t0 = time.perf_counter()
            short.train_tiny_dates(base)
            ready_s += time.perf_counter() - t0
            model = "small dates model (--short)"
        with httpx.Client(base_url=base, timeout=300) as http:
            job = http.get("/v1/jobs", params={"model": "dates"}).json()["jobs"][0]
            info = http.get("/v1/models/dates").json()
            test = http.post("/v1/models/dates/evaluate", json={"split": "test"}).json()
            rows.append(
                (f"{model}: training time (job)", f"{info['training_time_s']:.1f} s", "well under 60 s")
            )
            rows.append((f"{model}: first start until served", f"{ready_s:.1f} s", ""))
            rows.append((f"{model}: test exact match", f"{test['exact_match']:.2%}", "> 99%"))
            rows.append((f"{model}: dev exact match", f"{info['dev_metrics']['dev_exact_match']:.2%}", ""))
            rows.append((f"{model}: steps / epochs", f"{job['step']} / {job['epoch']}", ""))

            http.post("/v1/models/dates/translate", json={"inputs": inputs[:50]})  # warm-up

            def timed_batch(return_attention: bool) -> tuple[float, httpx.Response]:
                t0 = time.perf_counter()
                resp = http.post(
                    "/v1/models/dates/translate",
                    json={"inputs": inputs, "return_attention": return_attention},
                )
                resp.raise_for_status()
                return time.perf_counter() - t0, resp

            # best of `repeats`: the machine may be shared, the minimum is the least disturbed run
            batch_s, batched = min((timed_batch(True) for _ in range(args.repeats)), key=lambda x: x[0])
            batch_noatt_s = min(timed_batch(False)[0] for _ in range(args.repeats))

            t0 = time.perf_counter()
            singles = [http.post("/v1/models/dates/translate", json={"inputs": [x]}) for x in inputs]
            single_s = time.perf_counter() - t0
            assert all(r.status_code == 200 for r in singles)
            same = sum(
                a["output"] == b.json()["outputs"][0]["output"]
                for a, b in zip(batched.json()["outputs"], singles, strict=True)
            )
            rows.append((f"{args.n} inputs, one request (with attention)", f"{batch_s:.2f} s", ""))
            rows.append((f"{args.n} inputs, one request (no attention)", f"{batch_noatt_s:.2f} s", ""))
            rows.append((f"{args.n} inputs, {args.n} single requests", f"{single_s:.2f} s", ""))
            rows.append(
                ("speed-up: one batched request vs single requests", f"{single_s / batch_s:.1f}x", ">= 20x")
            )
            rows.append(("same output batched vs single", f"{same}/{args.n}", f"{args.n}/{args.n}"))

            if args.heatmap:
                png = http.get(
                    "/v1/models/dates/attention.png", params={"input": "Thursday, November 26 2026"}
                )
                png.raise_for_status()
                args.heatmap.write_bytes(png.content)

    except BaseException:
        stop(proc)
        shutil.rmtree(data_dir, ignore_errors=True)
        raise
    stop(proc)

    # after the server stopped, so both runs have the CPUs to themselves
    # in-process: the same stored model, the core's translate, the same thread count
    import torch

    from models.seq2seq.inference import translate
    from service.attention import checkpoints
    from service.attention.settings import Settings
    from service.kit.model_store import ModelStore

    torch.set_num_threads(args.threads)
    try:
        current = ModelStore(data_dir / "attention" / "models").current("dates")
        model = checkpoints.load(current.path)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    translate(model, inputs[:50])

    def best_of(fn) -> float:
        best = float("inf")
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t0)
        return best

    # the core with its defaults, and the core batched exactly as the service does it
    # (length-sorted, ATTENTION_INFER_BATCH_SIZE rows): the fair baseline of the HTTP figure
    plain_s = best_of(lambda: translate(model, inputs))
    same_s = best_of(
        lambda: translate(model, sorted(inputs, key=len), batch_size=Settings().infer_batch_size)
    )
    rows.append((f"in-process translate, core defaults ({args.n})", f"{plain_s:.2f} s", ""))
    rows.append((f"in-process translate, service batching ({args.n})", f"{same_s:.2f} s", ""))
    rows.append(("throughput HTTP (with attention) / in-process", f"{same_s / batch_s:.2f}x", ">= 0.7x"))
    rows.append(("throughput HTTP (no attention) / in-process", f"{same_s / batch_noatt_s:.2f}x", ">= 0.7x"))
    rows.append(("HTTP batched throughput", f"{args.n / batch_s:.0f} inputs/s", ""))

    bucketed, unbucketed = padding_shares(DEFAULT_DATES_RECIPE["params"]["batch_size"])
    rows.append(("padding share, bucketed training batches", f"{bucketed:.1%}", ""))
    rows.append(("padding share, random (unbucketed) batches", f"{unbucketed:.1%}", ""))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads of the service and in-process run (ATTENTION_THREADS)",
    )
    parser.add_argument(
        "--ready-timeout", type=float, default=900, help="seconds to wait for the default model"
    )
    parser.add_argument("--n", type=int, default=1000, help="number of date inputs")
    parser.add_argument(
        "--repeats", type=int, default=3, help="timed runs of each batched measure (best kept)"
    )
    parser.add_argument("--heatmap", type=Path, help="also save the service's PNG heatmap of one date here")
    parser.add_argument("--short", action="store_true", help=short.HELP)
    parser.add_argument(
        "--decoder-only", action="store_true", help="only the decoder training-speed section (no service)"
    )
    parser.add_argument(
        "--decoder-budget",
        type=float,
        default=20.0,
        help="training seconds per variant of the time-to-dev-loss measure (--short: 2)",
    )
    parser.add_argument(
        "--decoder-threads",
        default="1,2",
        help="torch thread counts of the steps/s measure (comma-separated; --short: the first)",
    )
    args = parser.parse_args()
    if args.short:
        args.n, args.repeats = 100, 1
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):  # before torch is imported
        os.environ.setdefault(var, str(args.threads))

    rows = [] if args.decoder_only else service_rows(args)
    threads = [int(t) for t in args.decoder_threads.split(",")][: 1 if args.short else None]
    rows += decoder_training_rows(args.short, threads, 2.0 if args.short else args.decoder_budget)

    width = max(len(r[0]) for r in rows)
    print(f"\nattention service benchmark ({args.threads} torch threads, {os.cpu_count()} CPUs)\n")
    print(f"{'measure'.ljust(width)}  {'value':>16}  target")
    print(f"{'-' * width}  {'-' * 16}  ------")
    for name, value, target in rows:
        print(f"{name.ljust(width)}  {value:>16}  {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
