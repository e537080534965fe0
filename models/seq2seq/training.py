"""Training loop: Adam + LR schedule, teacher forcing, optional label smoothing, grad clipping,
optional guided alignment, per-epoch dev evaluation, the best dev checkpoint by a chosen metric kept in
memory and restored at the end, optional averaging of the last checkpoints."""

from __future__ import annotations

import copy
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import torch
from torch.optim.lr_scheduler import LambdaLR

from models.vocab import Vocabulary

from .checkpoint import average_state_dicts, init_embedding_from_vectors
from .data import Example, encode_examples, examples_from_pairs, iterate_batches
from .devices import resolve_device
from .evaluation import evaluate
from .guided import batch_guided_alignment_loss
from .losses import token_losses
from .model import Seq2Seq, Seq2SeqConfig
from .schedules import ScheduleConfig, lr_at, retarget
from .tokenizers import get_tokenizer

Report = Callable[[dict[str, Any]], None]

#: Dev metrics a checkpoint can be chosen by (``TrainParams.select_by``); all but exact match are
#: lower-is-better.
SELECT_BY = ("token_error_rate", "sequence_error_rate", "exact_match", "loss")

#: With ``max_time_s``, the schedule's total steps are re-estimated at these updates (then every
#: doubling) and after every epoch's evaluation.
FIRST_ESTIMATE_STEP = 10


def selection_key(metrics: dict[str, Any], select_by: str) -> tuple[float, float]:
    """Return the key to minimise when choosing a checkpoint by ``metrics[select_by]`` (dev loss breaks ties).

    >>> selection_key({"exact_match": 0.9, "loss": 0.2}, "exact_match")
    (-0.9, 0.2)
    >>> selection_key({"token_error_rate": 0.05, "loss": 0.2}, "token_error_rate")
    (0.05, 0.2)
    """
    if select_by not in SELECT_BY:
        raise ValueError(f"unknown select_by {select_by!r}; expected one of {SELECT_BY}")
    value = float(metrics[select_by])
    return (-value if select_by == "exact_match" else value, float(metrics["loss"]))


@dataclass
class TrainParams:
    """Optimisation settings of :func:`train` (see :mod:`models.seq2seq.schedules` for the schedule)."""

    epochs: int = 10
    batch_size: int = 64
    lr: float = 3e-3
    schedule: str = "constant"
    warmup_steps: int = 0
    rate: float = 0.5
    step_size: int = 1000
    decay_steps: int = 1000
    min_lr: float = 0.0
    teacher_forcing: float = 1.0
    clip_grad_norm: float | None = 1.0
    weight_decay: float = 0.0
    seed: int = 0
    max_steps: int | None = None
    max_time_s: float | None = None  # wall-clock budget: stop after the step running when it is spent
    report_every: int = 50
    min_freq: int = 1
    max_vocab: int | None = None
    eval_beam_size: int = 1  # beam width of the per-epoch dev decoding (1: greedy)
    select_by: str = "token_error_rate"  # dev metric choosing the checkpoint kept (see SELECT_BY)
    label_smoothing: float = 0.0  # eps of the label-smoothed cross-entropy (train_loss stays the NLL)
    average_last: int = 1  # average the weights of the last k evaluated checkpoints (1: off)
    early_stop_exact_match: float | None = None  # stop once dev exact match reaches this
    guided_alignment_weight: float = 0.0  # w of loss = NLL + w * guided alignment loss (0: off)

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.report_every < 1:
            raise ValueError("epochs, batch_size and report_every must be >= 1")
        if not 0.0 <= self.teacher_forcing <= 1.0:
            raise ValueError("teacher_forcing must be in [0, 1]")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError("max_steps must be >= 1 or None")
        if self.max_time_s is not None and not self.max_time_s > 0:  # NaN fails too
            raise ValueError("max_time_s must be > 0 or None")
        if self.clip_grad_norm is not None and self.clip_grad_norm <= 0:
            raise ValueError("clip_grad_norm must be > 0 or None")
        if not self.guided_alignment_weight >= 0.0:  # NaN fails too
            raise ValueError("guided_alignment_weight must be >= 0")
        if self.eval_beam_size < 1 or self.average_last < 1:
            raise ValueError("eval_beam_size and average_last must be >= 1")
        if self.select_by not in SELECT_BY:
            raise ValueError(f"select_by must be one of {SELECT_BY}, not {self.select_by!r}")
        if not 0.0 <= self.label_smoothing < 1.0:  # NaN fails too
            raise ValueError("label_smoothing must be in [0, 1)")

    def to_dict(self) -> dict[str, Any]:
        """Return a plain dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainParams:
        """Build from a dict; unknown keys raise ValueError."""
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown training parameters: {sorted(unknown)}")
        return cls(**data)

    def schedule_config(self, total_steps: int) -> ScheduleConfig:
        """Return the :class:`ScheduleConfig` for a run of ``total_steps`` updates."""
        return ScheduleConfig(
            name=self.schedule,
            lr=self.lr,
            warmup_steps=self.warmup_steps,
            rate=self.rate,
            step_size=self.step_size,
            decay_steps=self.decay_steps,
            min_lr=self.min_lr,
            total_steps=max(total_steps, self.warmup_steps + 1),
        )


@dataclass
class TrainResult:
    """What :func:`train` returns.

    model: trained model (best dev weights restored, eval mode); metrics: the kept checkpoint's dev
    metrics plus ``best_epoch``, ``selected_by``, ``steps``, ``epochs_run``, ``train_time_s``,
    ``stopped`` ("completed", "max_steps", "max_time_s", "early_stop" or "should_stop") and, with
    ``average_last`` > 1, ``average_kept``, ``averaged_epochs`` and ``average_dev_<select_by>``;
    lr_history: the lr used at every update; history: every dict passed to ``report``.
    """

    model: Seq2Seq
    metrics: dict[str, Any]
    lr_history: list[float] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)


def build_model(config: Seq2SeqConfig, examples: Sequence[Example], params: TrainParams) -> Seq2Seq:
    """Build vocabularies from ``examples`` and a freshly initialised model (seeded by ``params.seed``)."""
    src_tok, tgt_tok = get_tokenizer(config.src_tokenization), get_tokenizer(config.tgt_tokenization)
    src_vocab = Vocabulary.build(
        (src_tok.tokenize(e.source) for e in examples), min_freq=params.min_freq, max_size=params.max_vocab
    )
    tgt_vocab = Vocabulary.build(
        (tgt_tok.tokenize(e.target) for e in examples), min_freq=params.min_freq, max_size=params.max_vocab
    )
    torch.manual_seed(params.seed)
    return Seq2Seq(config, src_vocab, tgt_vocab)


def train(
    config: Seq2SeqConfig | dict[str, Any],
    train_pairs: Sequence[Any],
    dev_pairs: Sequence[Any] | None,
    params: TrainParams | dict[str, Any],
    report: Report | None = None,
    should_stop: Callable[[], bool] | None = None,
    src_vectors: Any | None = None,
    init_model: Callable[[Seq2Seq], None] | None = None,
    device: torch.device | str | None = None,
) -> TrainResult:
    """Train a :class:`Seq2Seq` from scratch.

    ``train_pairs``/``dev_pairs``: :class:`Example` objects, ``(src, tgt)``/``(src, tgt, links)`` tuples or
    ``{"source", "target"[, "links"]}`` dicts (bad items -> :class:`~models.seq2seq.data.DataError`).
    ``report(dict)`` gets ``{"event": "step", "step", "total_steps", "epoch", "lr", "train_loss"}`` every
    ``params.report_every`` updates and ``{"event": "epoch", "epoch", "step", "train_loss", "dev_loss",
    "dev_exact_match", "dev_token_accuracy", "dev_token_error_rate", "dev_sequence_error_rate",
    "dev_alignment_accuracy", "dev_alignment_error_rate", "elapsed_s"}`` after each epoch
    (dev keys only with dev data; ``"train_alignment_loss"``, the epoch's mean guided alignment loss,
    only with ``params.guided_alignment_weight > 0``). Epochs count from 1 (``epoch``, ``best_epoch``), as in the
    embeddings service's job reports; ``epoch`` of a step event is the epoch it belongs to. ``should_stop()`` is polled before every update; True ends training
    early (the best weights so far are still restored). Torch thread count is the caller's business.
    ``src_vectors``: optional gensim ``KeyedVectors`` to initialise the source embedding (its size must
    equal ``config.emb_dim``); the vocabulary coverage is returned as ``metrics["src_vector_coverage"]``.
    ``init_model(model)``: optional hook called once on the freshly built model (vocabularies built,
    weights initialised) before the first update, e.g. to load or freeze pretrained embeddings.
    Too-long or empty sources in train or dev data raise :class:`~models.seq2seq.data.DataError` up front.
    ``device`` (:func:`~models.seq2seq.devices.resolve_device`: ``"cpu"``, the default, ``"auto"``,
    ``"cuda"``): where the model and each batch live; the model is returned there.

    Guided alignment (``params.guided_alignment_weight`` w > 0): every update minimises
    ``NLL + w * A``, A being :func:`~models.seq2seq.guided.guided_alignment_loss` of the decoder's
    teacher-forced attention against the gold links of the batch's examples (examples without links
    add nothing to A; ``train_loss`` stays the NLL). ValueError when no training example has links.
    With w = 0 (the default) nothing of it is computed: training is what it was without it.

    Checkpoint choice: after every epoch the model is evaluated on dev (decoded with
    ``params.eval_beam_size``: 1 greedy, k > 1 beam, a slower decode: 2x greedy's at k = 4, measured) and the epoch
    with the lowest ``params.select_by`` (``"token_error_rate"`` by default: PER for g2p, CER for
    characters; ``"sequence_error_rate"``, ``"loss"``, or the highest ``"exact_match"``) is kept, dev
    loss breaking ties. Label smoothing (``params.label_smoothing`` eps > 0) trains on the smoothed
    cross-entropy; ``train_loss`` stays the plain NLL, comparable across eps.

    Checkpoint averaging (``params.average_last`` k > 1): the weights of the last k evaluated epochs
    (at most k state dicts in memory) are averaged once training ends (not after a cancel), the
    average is evaluated on dev and replaces the selected checkpoint when its :func:`selection_key`
    is lower (strictly better by ``select_by``, or equal and a lower dev loss); ``average_kept`` says
    which won, ``averaged_epochs`` which epochs were averaged and ``average_dev_<select_by>`` how the
    average scored; ``best_epoch`` stays the best single epoch. Needs dev data (without it nothing is
    averaged). Its evaluation comes after a spent ``max_time_s``, like the cut epoch's.

    Time budget and schedule (``params.max_time_s``): training stops once the budget is spent, and
    the schedule's ``total_steps`` (where the ``linear`` decay reaches ``min_lr``) follows it: after
    update 10, 20, 40, 80, ... and after every epoch's evaluation it is re-estimated as
    ``steps so far + remaining seconds x updates per second so far`` (dev evaluations included in
    the rate), capped by ``epochs x batches`` and ``max_steps``, and the decay is moved with
    :func:`~models.seq2seq.schedules.retarget` (no jump in the lr). Step events report the current
    estimate as ``total_steps``.
    """
    config = Seq2SeqConfig.from_dict(config) if isinstance(config, dict) else config
    params = TrainParams.from_dict(params) if isinstance(params, dict) else params
    train_examples = examples_from_pairs(train_pairs)
    dev_examples = examples_from_pairs(dev_pairs or [])
    if not train_examples:
        raise ValueError("no training examples")
    guided = params.guided_alignment_weight > 0
    if guided and not any(e.links for e in train_examples):
        raise ValueError("guided_alignment_weight needs training pairs with links (none has gold links)")
    started = time.perf_counter()
    model = build_model(config, train_examples, params)
    if init_model is not None:
        init_model(model)
    data = encode_examples(
        train_examples,
        model.src_tokenizer,
        model.src_vocab,
        model.tgt_vocab,
        config.max_src_len,
        config.max_tgt_len,
        tgt_tokenizer=model.tgt_tokenizer,
    )
    encode_examples(  # validate dev lengths before spending time on training
        dev_examples,
        model.src_tokenizer,
        model.src_vocab,
        model.tgt_vocab,
        config.max_src_len,
        config.max_tgt_len,
        tgt_tokenizer=model.tgt_tokenizer,
    )
    coverage = None
    if src_vectors is not None:
        coverage = init_embedding_from_vectors(model.encoder.embedding, model.src_vocab, src_vectors)
    pad = model.tgt_vocab.pad_id
    n_batches = -(-len(train_examples) // params.batch_size)
    step_cap = params.epochs * n_batches  # updates the run cannot exceed
    if params.max_steps is not None:
        step_cap = min(step_cap, params.max_steps)
    sched_cfg = params.schedule_config(step_cap)
    total_steps = step_cap  # the run's expected length: step_cap, or the time budget's estimate
    device = resolve_device(device)
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=params.lr, weight_decay=params.weight_decay)
    # lr_at(k, sched_cfg) at update k; the lambda reads sched_cfg when called, so it follows follow_budget
    scheduler = LambdaLR(optimizer, lambda k: lr_at(k, sched_cfg) / params.lr)
    generator = torch.Generator().manual_seed(params.seed)

    history: list[dict[str, Any]] = []
    lr_history: list[float] = []

    def emit(event: dict[str, Any]) -> None:
        history.append(event)
        if report is not None:
            report(dict(event))

    loop_started = time.perf_counter()
    next_estimate = FIRST_ESTIMATE_STEP

    def follow_budget(step: int) -> None:
        """Move the schedule's end to where the time budget will stop the run (see the docstring)."""
        nonlocal sched_cfg, total_steps
        now = time.perf_counter()
        remaining = params.max_time_s - (now - started)
        rate = step / max(now - loop_started, 1e-9)  # updates per second, evaluations included
        total_steps = max(step + 1, min(step_cap, step + int(max(remaining, 0.0) * rate)))
        sched_cfg = retarget(sched_cfg, step, total_steps)

    best_state: dict[str, torch.Tensor] | None = None
    best_key: tuple[float, float] | None = None
    best_metrics: dict[str, Any] = {}
    recent: deque[tuple[int, dict[str, torch.Tensor]]] = deque(maxlen=params.average_last)
    step, epochs_run, stopped = 0, 0, "completed"
    running, running_n = 0.0, 0
    model.train()
    for epoch in range(params.epochs):
        epoch_loss, epoch_n = 0.0, 0
        epoch_align = 0.0
        for batch in iterate_batches(
            data, model.tgt_vocab, params.batch_size, shuffle=True, seed=params.seed, epoch=epoch
        ):
            if should_stop is not None and should_stop():
                stopped = "should_stop"
                break
            if step >= step_cap:
                stopped = "max_steps"
                break
            if params.max_time_s is not None and time.perf_counter() - started >= params.max_time_s:
                stopped = "max_time_s"  # the running step finished; the epoch's evaluation follows
                break
            if params.max_time_s is not None and step >= next_estimate:
                follow_budget(step)
                next_estimate *= 2
            batch = batch.to(device)
            lr = optimizer.param_groups[0]["lr"]
            lr_history.append(lr)
            logits, attention = model(
                batch.src, batch.src_lengths, batch.tgt_in, params.teacher_forcing, generator
            )  # (B, T, V), (B, T, S)
            objective, loss = token_losses(logits, batch.tgt_out, pad, params.label_smoothing)  # (), ()
            if guided:
                align_loss = batch_guided_alignment_loss(
                    attention,  # (B, T, S), T = target tokens + EOS
                    [data.examples[i].links for i in batch.indices],
                    [len(data.tgt_ids[i]) for i in batch.indices],
                    batch.src_lengths,  # (B,)
                )  # ()
                objective = objective + params.guided_alignment_weight * align_loss
                epoch_align += align_loss.item()
            optimizer.zero_grad(set_to_none=True)
            objective.backward()
            if params.clip_grad_norm is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), params.clip_grad_norm)
            optimizer.step()
            scheduler.step()
            step += 1
            loss_value = loss.item()
            running += loss_value
            running_n += 1
            epoch_loss += loss_value
            epoch_n += 1
            if step % params.report_every == 0:
                emit(
                    {
                        "event": "step",
                        "step": step,
                        "total_steps": total_steps,
                        "epoch": epoch + 1,
                        "lr": lr,
                        "train_loss": running / running_n,
                    }
                )
                running, running_n = 0.0, 0
        if epoch_n == 0:
            break
        epochs_run = epoch + 1
        event: dict[str, Any] = {
            "event": "epoch",
            "epoch": epoch + 1,
            "step": step,
            "train_loss": epoch_loss / epoch_n,
        }
        if guided:
            event["train_alignment_loss"] = epoch_align / epoch_n
        if dev_examples:
            m = evaluate(model, dev_examples, beam_size=params.eval_beam_size, with_bleu=False)
            model.train()
            event.update(
                dev_loss=m["loss"],
                dev_exact_match=m["exact_match"],
                dev_token_accuracy=m["token_accuracy"],
                dev_token_error_rate=m["token_error_rate"],
                dev_sequence_error_rate=m["sequence_error_rate"],
                dev_alignment_accuracy=m["alignment_accuracy"],
                dev_alignment_error_rate=m["alignment_error_rate"],
            )
            key = selection_key(m, params.select_by)
            if best_key is None or key < best_key:
                best_key = key
                best_state = copy.deepcopy(model.state_dict())
                best_metrics = {f"dev_{k}": v for k, v in m.items() if k != "bleu"} | {
                    "best_epoch": epoch + 1
                }
            if params.average_last > 1:
                recent.append((epoch + 1, copy.deepcopy(model.state_dict())))
        event["elapsed_s"] = time.perf_counter() - started
        emit(event)
        if stopped != "completed":
            break
        if (
            params.early_stop_exact_match is not None
            and dev_examples
            and event["dev_exact_match"] >= params.early_stop_exact_match
        ):
            stopped = "early_stop"
            break
        if step >= step_cap:
            stopped = "max_steps" if params.max_steps is not None and step >= params.max_steps else stopped
            break
        if params.max_time_s is not None and step >= FIRST_ESTIMATE_STEP:
            follow_budget(step)
    averaged: dict[str, Any] = {}
    if len(recent) > 1 and best_key is not None and stopped != "should_stop":
        model.load_state_dict(average_state_dicts([state for _, state in recent]))
        m = evaluate(model, dev_examples, beam_size=params.eval_beam_size, with_bleu=False)
        kept = selection_key(m, params.select_by) < best_key
        averaged = {
            "average_kept": kept,
            "averaged_epochs": [e for e, _ in recent],
            f"average_dev_{params.select_by}": m[params.select_by],
        }
        if kept:
            best_state = None  # the model holds the average
            best_metrics = {f"dev_{k}": v for k, v in m.items() if k != "bleu"} | {
                "best_epoch": best_metrics["best_epoch"]
            }
        recent.clear()
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    metrics = dict(best_metrics)
    if best_metrics:
        metrics["selected_by"] = params.select_by
    metrics.update(averaged)
    metrics.update(
        steps=step, epochs_run=epochs_run, train_time_s=time.perf_counter() - started, stopped=stopped
    )
    if coverage is not None:
        metrics["src_vector_coverage"] = coverage
    return TrainResult(model=model, metrics=metrics, lr_history=lr_history, history=history)


__all__ = ["SELECT_BY", "TrainParams", "TrainResult", "build_model", "lr_at", "selection_key", "train"]
