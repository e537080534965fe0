"""Padded-batch GRU encoder-decoder with attention that exposes its alignments.

Main entry points (``heatmap`` is imported separately to keep matplotlib out of the import path):

* train:      :func:`~models.seq2seq.training.train` (``config``, ``train_pairs``, ``dev_pairs``, ``params``,
  ``report``, ``should_stop``, ``device``) -> :class:`~models.seq2seq.training.TrainResult`
* devices:    :func:`~models.seq2seq.devices.resolve_device` (``auto``, ``cpu``, ``cuda``), :func:`~models.seq2seq.devices.model_device`
* default:    :func:`~models.seq2seq.recipes.train_default_dates`, :data:`~models.seq2seq.recipes.DEFAULT_DATES_RECIPE`
* persist:    :func:`~models.seq2seq.checkpoint.save_checkpoint`, :func:`~models.seq2seq.checkpoint.load_checkpoint`
* inference:  :func:`~models.seq2seq.inference.translate`, :func:`~models.seq2seq.inference.align`
* evaluation: :func:`~models.seq2seq.evaluation.evaluate`
* drawing:    :func:`models.seq2seq.heatmap.attention_heatmap`
"""

from __future__ import annotations

import importlib
from typing import Any

from .limits import MAX_BEAM_SIZE

# Submodules are imported on first use (PEP 562), so the torch-free ones (``limits``) stay light:
# the attention settings read MAX_BEAM_SIZE without importing torch.
_EXPORTS = {
    "alignment": (
        "alignment_accuracy",
        "alignment_error_rate",
        "alignment_scores",
        "hard_links",
        "to_pharaoh",
    ),
    "guided": ("gold_alignment", "guided_alignment_loss"),
    "checkpoint": ("CheckpointError", "load_checkpoint", "save_checkpoint"),
    "data": ("DataError", "Example", "examples_from_pairs", "parse_jsonl", "parse_tsv"),
    "devices": ("model_device", "resolve_device"),
    "evaluation": ("evaluate",),
    "inference": (
        "ForcedAlignment",
        "InvalidInputs",
        "Source",
        "Translation",
        "align",
        "prepare_sources",
        "prepare_targets",
        "translate",
    ),
    "model": ("Seq2Seq", "Seq2SeqConfig"),
    "recipes": ("DEFAULT_DATES_RECIPE", "train_default_dates"),
    "search": ("Hypothesis", "beam_search", "greedy_search", "search"),
    "tasks": ("make_task",),
    "training": ("TrainParams", "TrainResult", "train"),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))


__all__ = [
    "DEFAULT_DATES_RECIPE",
    "MAX_BEAM_SIZE",
    "CheckpointError",
    "DataError",
    "Example",
    "ForcedAlignment",
    "Hypothesis",
    "Seq2Seq",
    "Seq2SeqConfig",
    "InvalidInputs",
    "Source",
    "TrainParams",
    "TrainResult",
    "Translation",
    "align",
    "alignment_accuracy",
    "alignment_error_rate",
    "alignment_scores",
    "beam_search",
    "evaluate",
    "examples_from_pairs",
    "gold_alignment",
    "greedy_search",
    "guided_alignment_loss",
    "hard_links",
    "load_checkpoint",
    "make_task",
    "model_device",
    "parse_jsonl",
    "parse_tsv",
    "prepare_sources",
    "prepare_targets",
    "resolve_device",
    "save_checkpoint",
    "search",
    "to_pharaoh",
    "train",
    "train_default_dates",
    "translate",
]
