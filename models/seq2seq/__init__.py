"""Padded-batch GRU encoder-decoder with attention that exposes its alignments.

Main entry points (``heatmap`` is imported separately to keep matplotlib out of the import path):

* train:      :func:`~models.seq2seq.training.train` (``config``, ``train_pairs``, ``dev_pairs``, ``params``,
  ``report``, ``should_stop``) -> :class:`~models.seq2seq.training.TrainResult`
* default:    :func:`~models.seq2seq.recipes.train_default_dates`, :data:`~models.seq2seq.recipes.DEFAULT_DATES_RECIPE`
* persist:    :func:`~models.seq2seq.checkpoint.save_checkpoint`, :func:`~models.seq2seq.checkpoint.load_checkpoint`
* inference:  :func:`~models.seq2seq.inference.translate`, :func:`~models.seq2seq.inference.align`
* evaluation: :func:`~models.seq2seq.evaluation.evaluate`
* drawing:    :func:`models.seq2seq.heatmap.attention_heatmap`
"""

from .alignment import alignment_accuracy, alignment_scores, hard_links, to_pharaoh
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .data import DataError, Example, examples_from_pairs, parse_jsonl, parse_tsv
from .evaluation import evaluate
from .inference import ForcedAlignment, SourceError, Translation, align, translate
from .model import Seq2Seq, Seq2SeqConfig
from .recipes import DEFAULT_DATES_RECIPE, train_default_dates
from .search import Hypothesis, beam_search, greedy_search
from .tasks import make_task
from .training import TrainParams, TrainResult, train

__all__ = [
    "DEFAULT_DATES_RECIPE",
    "CheckpointError",
    "DataError",
    "Example",
    "ForcedAlignment",
    "Hypothesis",
    "Seq2Seq",
    "Seq2SeqConfig",
    "SourceError",
    "TrainParams",
    "TrainResult",
    "Translation",
    "align",
    "alignment_accuracy",
    "alignment_scores",
    "beam_search",
    "evaluate",
    "examples_from_pairs",
    "greedy_search",
    "hard_links",
    "load_checkpoint",
    "make_task",
    "parse_jsonl",
    "parse_tsv",
    "save_checkpoint",
    "to_pharaoh",
    "train",
    "train_default_dates",
    "translate",
]
