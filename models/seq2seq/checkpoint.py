"""Checkpoint directories (config, vocabularies, weights, metrics), checkpoint averaging and
pretrained word embeddings.

Layout of a checkpoint directory::

    config.json      Seq2SeqConfig.to_dict()
    src_vocab.json   Vocabulary.to_dict()
    tgt_vocab.json
    weights.pt       model.state_dict() written with torch.save
    metrics.json     free-form JSON metrics

Saving writes a temporary sibling directory, fsyncs it, then swaps it into place with renames; a
crash at any point leaves the previous version loadable (see :func:`save_checkpoint`). Loading
reads weights with ``torch.load(..., map_location="cpu", weights_only=True)`` only, and accepts
nothing but a flat ``{str: Tensor}`` mapping.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from models.atomic import fsync_dir
from models.vocab import Vocabulary

from .model import Seq2Seq, Seq2SeqConfig

FILES = ("config.json", "src_vocab.json", "tgt_vocab.json", "weights.pt", "metrics.json")


class CheckpointError(ValueError):
    """A checkpoint directory that is missing, incomplete or holds a refused payload."""


def _write_json(path: Path, data: Any) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(data, fh, ensure_ascii=False, indent=1)
        fh.flush()
        os.fsync(fh.fileno())


def _backup_path(directory: Path) -> Path:
    return directory.with_name(f".{directory.name}.previous")


def save_checkpoint(
    directory: str | os.PathLike[str], model: Seq2Seq, metrics: dict[str, Any] | None = None
) -> Path:
    """Save ``model`` (+ ``metrics``) to ``directory`` atomically and return its path.

    Steps: write everything into ``.<name>.tmp-<uuid>`` next to it; move an existing version to
    ``.<name>.previous``; rename the new one into place; delete the backup. If the process dies
    between the two renames, :func:`load_checkpoint` falls back to ``.<name>.previous``.
    """
    target = Path(directory)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{uuid.uuid4().hex}")
    tmp.mkdir()
    try:
        _write_json(tmp / "config.json", model.config.to_dict())
        _write_json(tmp / "src_vocab.json", model.src_vocab.to_dict())
        _write_json(tmp / "tgt_vocab.json", model.tgt_vocab.to_dict())
        _write_json(tmp / "metrics.json", metrics or {})
        state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        with open(tmp / "weights.pt", "wb") as fh:
            torch.save(state, fh)
            fh.flush()
            os.fsync(fh.fileno())
        fsync_dir(tmp)
        backup = _backup_path(target)
        if backup.exists():
            shutil.rmtree(backup)
        if target.exists():
            os.replace(target, backup)
        os.replace(tmp, target)
        fsync_dir(target.parent)
        if backup.exists():
            shutil.rmtree(backup, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def load_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Read a ``weights.pt`` with ``weights_only=True``; CheckpointError unless it is ``{str: Tensor}``."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as exc:
        raise CheckpointError(f"refusing to load {os.fspath(path)!r}: {exc}") from None
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise CheckpointError(f"{os.fspath(path)!r} is not a mapping of parameter names to tensors")
    return state


def load_checkpoint(directory: str | os.PathLike[str]) -> tuple[Seq2Seq, dict[str, Any]]:
    """Load ``(model in eval mode, metrics)`` from a directory written by :func:`save_checkpoint`."""
    path = Path(directory)
    if not path.is_dir() and _backup_path(path).is_dir():
        path = _backup_path(path)  # a save was interrupted between its two renames
    missing = [f for f in FILES if not (path / f).is_file()]
    if missing:
        raise CheckpointError(f"checkpoint {os.fspath(directory)!r} lacks {missing}")
    try:
        config = Seq2SeqConfig.from_checkpoint(json.loads((path / "config.json").read_text(encoding="utf-8")))
        src_vocab = Vocabulary.load(path / "src_vocab.json")
        tgt_vocab = Vocabulary.load(path / "tgt_vocab.json")
        metrics = json.loads((path / "metrics.json").read_text(encoding="utf-8"))
    except (ValueError, TypeError) as exc:
        raise CheckpointError(f"checkpoint {os.fspath(directory)!r} is invalid: {exc}") from None
    model = Seq2Seq(config, src_vocab, tgt_vocab)
    try:
        model.load_state_dict(load_state_dict(path / "weights.pt"))
    except RuntimeError as exc:  # missing/unexpected keys or shape mismatch
        raise CheckpointError(f"weights do not match the config: {exc}") from None
    model.eval()
    return model, metrics


def average_state_dicts(states: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Return the element-wise mean of ``states`` (state dicts of one architecture), as the checkpoint
    averaging of OpenNMT's ``average_models.py`` / Joey NMT's ``average_checkpoints.py``.

    Floating-point tensors are averaged (in float64, then cast back); any other tensor is taken from
    the last state. ValueError for no states or states with different keys.

    >>> a, b = {"w": torch.tensor([1.0, 2.0])}, {"w": torch.tensor([3.0, 6.0])}
    >>> average_state_dicts([a, b])["w"].tolist()
    [2.0, 4.0]
    """
    if not states:
        raise ValueError("no state dicts to average")
    keys = list(states[-1])
    if any(list(s) != keys for s in states):
        raise ValueError("state dicts with different keys cannot be averaged")
    out: dict[str, torch.Tensor] = {}
    for k in keys:
        last = states[-1][k]
        if last.is_floating_point():
            out[k] = (sum(s[k].double() for s in states) / len(states)).to(last.dtype)
        else:
            out[k] = last.clone()
    return out


# -- pretrained word embeddings (gensim) --------------------------------------------------------------------


def load_word_vectors(path: str | os.PathLike[str], binary: bool = False):
    """Read an exported word2vec text/binary file with ``KeyedVectors.load_word2vec_format`` (no pickle)."""
    from gensim.models import KeyedVectors

    return KeyedVectors.load_word2vec_format(os.fspath(path), binary=binary)


def init_embedding_from_vectors(embedding: nn.Embedding, vocab: Vocabulary, vectors: Any) -> float:
    """Copy ``vectors[token]`` (a ``gensim`` ``KeyedVectors``) into the rows of ``embedding`` for every
    ordinary token of ``vocab`` that the vectors know; other rows keep their initialisation.

    Requires ``vectors.vector_size == embedding.embedding_dim`` (ValueError otherwise: build the
    model with ``emb_dim`` equal to the vectors' size). Returns the coverage: the share of the
    vocabulary's ordinary (non-special) tokens found in the vectors (0.0 if there are none).
    """
    if vectors.vector_size != embedding.embedding_dim:
        raise ValueError(
            f"vector size {vectors.vector_size} != embedding dim {embedding.embedding_dim}; set emb_dim to match"
        )
    tokens = vocab.tokens[4:]
    found = 0
    with torch.no_grad():
        for idx, token in enumerate(tokens, start=4):
            if token in vectors.key_to_index:
                embedding.weight[idx] = torch.tensor(np.asarray(vectors[token], dtype=np.float32))
                found += 1
    return found / len(tokens) if tokens else 0.0
