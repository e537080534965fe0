"""Parallel data: parsing (inline, TSV, JSON lines), encoding, and length-bucketed padded batches."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from models.padding import BucketBatchSampler, pad_sequences
from models.unicode import surrogate_path
from models.vocab import Vocabulary

from .alignment import Link, from_pharaoh


class DataError(ValueError):
    """A bad input line/item; ``line`` is 1-based (file line or inline item number)."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.reason = message


@dataclass(frozen=True)
class Example:
    """One parallel pair; ``links`` are gold (src_idx, tgt_idx) token links or None if unknown.

    ``alternatives``: other correct targets (e.g. the other pronunciations of a word); evaluation scores
    a hypothesis against the best-matching of ``(target, *alternatives)``. Training uses ``target`` only.
    """

    source: str
    target: str
    links: tuple[Link, ...] | None = None
    alternatives: tuple[str, ...] = ()

    @property
    def references(self) -> tuple[str, ...]:
        """Every correct target: ``target`` first, then the alternatives."""
        return (self.target, *self.alternatives)


def _links(value: Any, line: int) -> tuple[Link, ...] | None:
    if value is None:
        return None
    try:
        if isinstance(value, str):
            return tuple(from_pharaoh(value))
        links = tuple((int(s), int(t)) for s, t in value)
    except (TypeError, ValueError) as exc:
        raise DataError(line, f"bad links: {exc}") from None
    negative = [f"{s}-{t}" for s, t in links if s < 0 or t < 0]
    if negative:
        raise DataError(line, f"bad links: negative index in {negative[0]!r}")
    return links


def to_example(item: Any, line: int = 1) -> Example:
    """Normalise one item: an :class:`Example`, ``[src, tgt]``/``(src, tgt, links)``, or a dict
    ``{"source", "target"[, "links"][, "alternatives"]}``. Raises :class:`DataError` for anything else."""
    alternatives: tuple[str, ...] = ()
    if isinstance(item, Example):
        src, tgt, links, alternatives = item.source, item.target, item.links, item.alternatives
    elif isinstance(item, dict):
        if not {"source", "target"} <= set(item):
            raise DataError(line, "object needs 'source' and 'target'")
        src, tgt, links = item["source"], item["target"], _links(item.get("links"), line)
        alternatives = item.get("alternatives") or ()
        if not isinstance(alternatives, list | tuple) or not all(isinstance(a, str) for a in alternatives):
            raise DataError(line, "'alternatives' must be a list of strings (other correct targets)")
        alternatives = tuple(alternatives)
    elif isinstance(item, list | tuple) and len(item) in (2, 3):
        src, tgt = item[0], item[1]
        links = _links(item[2], line) if len(item) == 3 else None
    else:
        raise DataError(line, "expected [source, target] or {'source': ..., 'target': ...}")
    if not isinstance(src, str) or not isinstance(tgt, str):
        raise DataError(line, "source and target must be strings")
    if not src.strip():
        raise DataError(line, "empty source")
    return Example(src, tgt, links, alternatives)


def examples_from_pairs(items: Iterable[Any]) -> list[Example]:
    """Return examples from inline items (see :func:`to_example`); errors name the 1-based item number."""
    return [to_example(item, i) for i, item in enumerate(items, start=1)]


# The line boundaries of str.splitlines().
_LINE_BREAK = re.compile("\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]")


def split_dev(examples: list[Example], fraction: float, seed: int) -> tuple[list[Example], list[Example]]:
    """``(train, dev)``: ``fraction`` of the examples held out for dev (at least one when there are two
    or more), drawn with ``seed``; both keep the examples' order.

    >>> train, dev = split_dev(examples_from_pairs([["a", "x"], ["b", "y"], ["c", "z"]]), 0.3, seed=0)
    >>> len(train), len(dev)
    (2, 1)
    """
    if len(examples) < 2:
        return examples, []
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    n_dev = min(len(examples) - 1, max(1, round(len(examples) * fraction)))
    dev = sorted(order[:n_dev])
    train = sorted(order[n_dev:])
    return [examples[i] for i in train], [examples[i] for i in dev]


def _lines(text: str) -> Iterator[str]:
    """``text.splitlines()`` one line at a time (a list of every line of a large file, blank ones
    included, would cost far more memory than the text itself)."""
    start = 0
    for m in _LINE_BREAK.finditer(text):
        yield text[start : m.start()]
        start = m.end()
    if start < len(text):
        yield text[start:]


def _check_count(out: list[Example], max_pairs: int | None, line: int) -> None:
    if max_pairs is not None and len(out) > max_pairs:
        raise DataError(line, f"more than {max_pairs} pairs (the limit)")


def parse_tsv(text: str, max_pairs: int | None = None) -> list[Example]:
    """Parse ``source<TAB>target[<TAB>pharaoh links]`` lines; blank lines are skipped.

    More than ``max_pairs`` pairs is a :class:`DataError` naming the first line past the limit."""
    out: list[Example] = []
    for n, raw in enumerate(_lines(text), start=1):
        if not raw.strip():
            continue
        cols = raw.split("\t")
        if len(cols) not in (2, 3):
            raise DataError(n, f"expected 2 or 3 tab-separated columns, got {len(cols)}")
        out.append(to_example(cols, n))
        _check_count(out, max_pairs, n)
    return out


def parse_jsonl(text: str, max_pairs: int | None = None) -> list[Example]:
    """Parse JSON lines: ``{"source": ..., "target": ...[, "links": ...]}`` or ``[src, tgt]``.

    A string with a lone surrogate escape (``"\\ud800"``, not Unicode text) is a bad line.

    More than ``max_pairs`` pairs is a :class:`DataError` naming the first line past the limit."""
    out: list[Example] = []
    for n, raw in enumerate(_lines(text), start=1):
        if not raw.strip():
            continue
        try:
            item = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise DataError(n, f"invalid JSON: {exc.msg}") from None
        where = surrogate_path(item)
        if where is not None:
            raise DataError(
                n,
                f"a lone UTF-16 surrogate escape (\\ud800-\\udfff) in {where or 'the value'}: not Unicode text",
            )
        out.append(to_example(item, n))
        _check_count(out, max_pairs, n)
    return out


def read_tsv(path: str | Path, max_pairs: int | None = None) -> list[Example]:
    """Read a UTF-8 TSV file (see :func:`parse_tsv`)."""
    return parse_tsv(Path(path).read_text(encoding="utf-8"), max_pairs)


def read_jsonl(path: str | Path, max_pairs: int | None = None) -> list[Example]:
    """Read a UTF-8 JSON-lines file (see :func:`parse_jsonl`)."""
    return parse_jsonl(Path(path).read_text(encoding="utf-8"), max_pairs)


@dataclass
class EncodedData:
    """Token-id lists (no BOS/EOS) of a dataset, aligned with ``examples``."""

    examples: list[Example]
    src_ids: list[list[int]]
    tgt_ids: list[list[int]]


def encode_examples(
    examples: Sequence[Example],
    tokenizer: Any,
    src_vocab: Vocabulary,
    tgt_vocab: Vocabulary,
    max_src_len: int | None = None,
    max_tgt_len: int | None = None,
    tgt_tokenizer: Any = None,
) -> EncodedData:
    """Tokenize and map to ids; :class:`DataError` (1-based item number) for too-long or empty sources.

    ``tokenizer`` splits the sources, ``tgt_tokenizer`` the targets (default: ``tokenizer``).
    ``max_tgt_len`` bounds the target tokens plus EOS.
    """
    tgt_tokenizer = tgt_tokenizer or tokenizer
    src_ids, tgt_ids = [], []
    for n, ex in enumerate(examples, start=1):
        s = src_vocab.encode(tokenizer.tokenize(ex.source))
        t = tgt_vocab.encode(tgt_tokenizer.tokenize(ex.target))
        if not s:
            raise DataError(n, "empty source")
        if max_src_len is not None and len(s) > max_src_len:
            raise DataError(n, f"source has {len(s)} tokens > max_src_len {max_src_len}")
        if max_tgt_len is not None and len(t) + 1 > max_tgt_len:
            raise DataError(n, f"target has {len(t)} tokens (+EOS) > max_tgt_len {max_tgt_len}")
        src_ids.append(list(s))
        tgt_ids.append(list(t))
    return EncodedData(list(examples), src_ids, tgt_ids)


@dataclass
class Batch:
    """A padded batch (pads are PAD=0, post-padded).

    src: (B, S); src_lengths: (B,); tgt_in: (B, T) = BOS + target; tgt_out: (B, T) = target + EOS;
    indices: (B,) positions of the rows in the dataset.
    """

    src: Tensor
    src_lengths: Tensor
    tgt_in: Tensor
    tgt_out: Tensor
    indices: list[int]

    def to(self, device: torch.device | str) -> Batch:
        """Return this batch with its tensors on ``device`` (itself when they are there already)."""
        if self.src.device == torch.device(device):
            return self
        return Batch(
            src=self.src.to(device),  # (B, S)
            src_lengths=self.src_lengths.to(device),  # (B,)
            tgt_in=self.tgt_in.to(device),  # (B, T)
            tgt_out=self.tgt_out.to(device),  # (B, T)
            indices=self.indices,
        )


def pad_ids(seqs: Sequence[Sequence[int]], pad_id: int = 0) -> Tensor:
    """Post-pad id lists into a (B, max_len) long tensor."""
    return torch.from_numpy(pad_sequences(list(seqs), dtype="int64", padding="post", value=pad_id))


def make_batch(data: EncodedData, indices: Sequence[int], tgt_vocab: Vocabulary) -> Batch:
    """Collate the rows ``indices`` of ``data`` into a :class:`Batch`."""
    src = [data.src_ids[i] for i in indices]
    tgt_in = [[tgt_vocab.bos_id, *data.tgt_ids[i]] for i in indices]
    tgt_out = [[*data.tgt_ids[i], tgt_vocab.eos_id] for i in indices]
    return Batch(
        src=pad_ids(src, tgt_vocab.pad_id),  # (B, S)
        src_lengths=torch.tensor([len(s) for s in src], dtype=torch.long),  # (B,)
        tgt_in=pad_ids(tgt_in, tgt_vocab.pad_id),  # (B, T)
        tgt_out=pad_ids(tgt_out, tgt_vocab.pad_id),  # (B, T)
        indices=list(indices),
    )


def iterate_batches(
    data: EncodedData,
    tgt_vocab: Vocabulary,
    batch_size: int,
    *,
    shuffle: bool = False,
    seed: int = 0,
    epoch: int = 0,
) -> Iterator[Batch]:
    """Yield length-bucketed batches (via ``BucketBatchSampler`` on source lengths)."""
    sampler = BucketBatchSampler([len(s) for s in data.src_ids], batch_size, shuffle=shuffle, seed=seed)
    sampler.set_epoch(epoch)
    for indices in sampler:
        yield make_batch(data, [int(i) for i in indices], tgt_vocab)
