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
