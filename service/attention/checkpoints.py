"""A model version's files: the core's checkpoint (:mod:`models.seq2seq.checkpoint`) in ``checkpoint/``.

A version directory of the model store holds ``version.json`` (the kit's metadata), ``checkpoint/`` (config,
vocabularies, ``weights.pt`` loaded with ``weights_only=True``, metrics) and, when the model had
dev data, ``dev.jsonl`` (so ``evaluate`` can score the dev split of uploaded data too).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from models.seq2seq.checkpoint import load_checkpoint, save_checkpoint
from models.seq2seq.model import Seq2Seq

CHECKPOINT_DIR = "checkpoint"
#: The dev pairs of a model trained on uploaded or inline data (JSON lines), for ``evaluate``'s dev split.
DEV_FILE = "dev.jsonl"


def save(model: Seq2Seq, version_dir: Path, metrics: dict[str, Any] | None = None) -> None:
    """Write ``model`` into the new version directory ``version_dir``."""
    save_checkpoint(Path(version_dir) / CHECKPOINT_DIR, model, metrics)


def load(version_dir: Path) -> Seq2Seq:
    """Load the model of a version directory, in eval mode."""
    model, _metrics = load_checkpoint(Path(version_dir) / CHECKPOINT_DIR)
    model.eval()
    return model
