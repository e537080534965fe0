"""Frozen training recipes; ``dates`` is the service's default model trained at first start."""

from __future__ import annotations

from typing import Any

from .evaluation import evaluate
from .tasks import dates_task
from .training import Report, TrainResult, train

#: The default ``dates`` model: char-level biGRU encoder + Luong-general attention decoder.
#: Measured on 2 CPU cores, otherwise idle: ~11 s training with torch.set_num_threads(2) (~10 s with 1
#: thread: this model is too small to gain from a second thread, and under CPU contention 2 OpenMP
#: threads can slow it down many times over); test exact match 100% (seed 0), >= 99.9% over seeds 0-4.
DEFAULT_DATES_RECIPE: dict[str, Any] = {
    "task": {"n_train": 5000, "n_dev": 500, "n_test": 1000, "seed": 0},
    "config": {
        "emb_dim": 32,
        "hidden": 64,
        "layers": 1,
        "bidirectional": True,
        "dropout": 0.0,
        "attention": "general",
        "layer_norm": False,
        "tokenization": "char",
        "max_src_len": 40,
        "max_tgt_len": 12,
    },
    "params": {
        "epochs": 6,
        "batch_size": 64,
        "lr": 5e-3,
        "schedule": "linear",
        "warmup_steps": 50,
        "min_lr": 3e-4,
        "teacher_forcing": 1.0,
        "clip_grad_norm": 1.0,
        "seed": 0,
        "report_every": 50,
    },
}


def train_default_dates(report: Report | None = None, should_stop=None) -> TrainResult:
    """Train the default ``dates`` model with :data:`DEFAULT_DATES_RECIPE`.

    Returns the :class:`~models.seq2seq.training.TrainResult`; its ``metrics`` also hold the test
    split's ``test_exact_match``, ``test_token_accuracy``, ``test_alignment_accuracy``, ``test_loss``.
    The caller sets torch's thread count.
    """
    recipe = DEFAULT_DATES_RECIPE
    task = dates_task(**recipe["task"])
    result = train(
        recipe["config"], task.train, task.dev, dict(recipe["params"]), report=report, should_stop=should_stop
    )
    test = evaluate(result.model, task.test, with_bleu=False)
    result.metrics.update({f"test_{k}": v for k, v in test.items() if k != "bleu"})
    return result
