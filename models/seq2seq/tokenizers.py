"""Tokenizers: turn a string into tokens and back (character- or word-level)."""

from __future__ import annotations

TOKENIZATIONS = ("char", "word")


class CharTokenizer:
    """Every character is a token (spaces included); ``detokenize`` joins with ``""``."""

    kind = "char"

    def tokenize(self, text: str) -> list[str]:
        """Return the list of characters of ``text``."""
        return list(text)

    def detokenize(self, tokens: list[str]) -> str:
        """Return the tokens joined with the empty string."""
        return "".join(tokens)


class WordTokenizer:
    """Whitespace-separated words are tokens; ``detokenize`` joins with ``" "``."""

    kind = "word"

    def tokenize(self, text: str) -> list[str]:
        """Return the whitespace-split words of ``text``."""
        return text.split()

    def detokenize(self, tokens: list[str]) -> str:
        """Return the tokens joined with single spaces."""
        return " ".join(tokens)


def get_tokenizer(kind: str) -> CharTokenizer | WordTokenizer:
    """Return the tokenizer for ``kind`` ("char" or "word"); ValueError otherwise."""
    if kind == "char":
        return CharTokenizer()
    if kind == "word":
        return WordTokenizer()
    raise ValueError(f"unknown tokenization {kind!r}; expected one of {TOKENIZATIONS}")


def tokenization_sides(value: str | dict) -> tuple[str, str]:
    """Return ``(source kind, target kind)`` of a tokenization setting.

    ``value`` is ``"char"``/``"word"`` (both sides) or ``{"source": kind, "target": kind}``; ValueError
    for anything else.
    """
    if isinstance(value, str):
        get_tokenizer(value)
        return value, value
    if isinstance(value, dict):
        if set(value) != {"source", "target"}:
            raise ValueError(f"tokenization needs exactly 'source' and 'target', got {sorted(value)}")
        sides = (value["source"], value["target"])
        for kind in sides:
            if not isinstance(kind, str) or kind not in TOKENIZATIONS:
                raise ValueError(f"unknown tokenization {kind!r}; expected one of {TOKENIZATIONS}")
        return sides
    raise ValueError(f"tokenization must be one of {TOKENIZATIONS} or {{'source': ..., 'target': ...}}")


def normalize_tokenization(value: str | dict) -> str | dict[str, str]:
    """``value`` validated; a per-side dict with equal sides becomes the plain string (``"char"``)."""
    src, tgt = tokenization_sides(value)
    return src if src == tgt else {"source": src, "target": tgt}
