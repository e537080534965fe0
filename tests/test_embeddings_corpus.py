import gzip
import json

import pytest
from gensim.test.utils import datapath
from gensim.utils import simple_preprocess

from models.embeddings.corpus import (
    CorpusStats,
    LineCorpus,
    Tokenizer,
    is_gzip,
    iter_sentences,
    read_corpus,
    scan_corpus,
)
from models.embeddings.errors import CorpusFormatError, CorpusTooLargeError

LEE = datapath("lee_background.cor")


def test_default_tokenizer_is_simple_preprocess():
    text = "Hello, World! It's a Café in 2024 _under x"
    assert Tokenizer()(text) == simple_preprocess(text)
    assert Tokenizer(deacc=True, min_len=1, max_len=4)(text) == simple_preprocess(
        text, deacc=True, min_len=1, max_len=4
    )


def test_keep_case_and_whitespace():
    assert Tokenizer(keep_case=True)("Hello, World 42") == ["Hello", "World"]
    assert Tokenizer(kind="whitespace")("Hello, World 42") == ["hello,", "world", "42"]
    assert Tokenizer(kind="whitespace", keep_case=True)("Hello,  World") == ["Hello,", "World"]
    with pytest.raises(ValueError):
        Tokenizer(kind="bpe")


def test_text_corpus_streams_and_restarts():
    corpus = LineCorpus(LEE)
    first = list(corpus)
    second = list(corpus)
    assert first == second and len(first) == 300
    with open(LEE, encoding="utf-8") as f:
        assert first[0] == simple_preprocess(f.readline())


def test_gzip_detected_by_magic_not_extension(tmp_path):
    plain = tmp_path / "c.txt"
    plain.write_text("one two three\n\nfour five\n", encoding="utf-8")
    disguised = tmp_path / "c.txt"  # gzip content under a .txt name
    data = plain.read_bytes()
    disguised.write_bytes(gzip.compress(data))
    assert is_gzip(disguised)
    assert list(read_corpus(disguised)) == [["one", "two", "three"], ["four", "five"]]
    stats = scan_corpus(disguised)
    assert stats.gzip and stats.lines == 3 and stats.sentences == 2 and stats.tokens == 5


def test_jsonl_corpus_and_bad_line(tmp_path):
    p = tmp_path / "c.jsonl"
    p.write_text('["a","B"]\n\n["c"]\n', encoding="utf-8")
    assert list(LineCorpus(p, "jsonl")) == [["a", "B"], ["c"]]
    assert scan_corpus(p, "jsonl") == CorpusStats(
        lines=3,
        sentences=2,
        tokens=3,
        distinct=3,
        bytes=p.stat().st_size,
        gzip=False,
        max_sentence_tokens=2,
        max_token_count=1,
    )
    p.write_text('["a"]\n{"x": 1}\n', encoding="utf-8")
    with pytest.raises(CorpusFormatError, match="line 2") as e:
        list(LineCorpus(p, "jsonl"))
    assert e.value.line == 2 and isinstance(e.value, ValueError)
    p.write_text('["a"]\n["b"\n', encoding="utf-8")
    with pytest.raises(ValueError, match="line 2"):
        scan_corpus(p, "jsonl")
    p.write_text(json.dumps(["a", 1]) + "\n", encoding="utf-8")
    with pytest.raises(CorpusFormatError, match="line 1"):
        scan_corpus(p, "jsonl")


def test_non_utf8_names_line(tmp_path):
    p = tmp_path / "latin1.txt"
    p.write_bytes("good line\ncaf\xe9 au lait\n".encode("latin-1"))
    with pytest.raises(CorpusFormatError, match="line 2") as e:
        scan_corpus(p)
    assert e.value.line == 2
    with pytest.raises(ValueError, match="line 2"):
        list(LineCorpus(p))


def test_scan_lee():
    stats = scan_corpus(LEE)
    assert stats.lines == 300 and stats.sentences == 300
    assert stats.tokens == sum(len(s) for s in LineCorpus(LEE))
    assert stats.distinct == len({t for s in LineCorpus(LEE) for t in s})
    assert scan_corpus(LEE, count_distinct=False).distinct is None


def test_unknown_format():
    with pytest.raises(ValueError):
        LineCorpus(LEE, "csv")


def test_truncated_gzip_is_corpus_error(tmp_path):
    p = tmp_path / "c.gz"
    p.write_bytes(gzip.compress(("word " * 50 + "\n").encode() * 200)[:-30])
    with pytest.raises(CorpusFormatError, match="gzip"):
        scan_corpus(p)
    with pytest.raises(CorpusFormatError):
        list(LineCorpus(p))


def test_line_longer_than_the_limit_is_a_corpus_error_not_a_memory_blowup(tmp_path):
    from models.embeddings.corpus import MAX_LINE_BYTES

    ok = tmp_path / "ok.txt"
    ok.write_bytes(b"a" * MAX_LINE_BYTES + b"\nb\n")  # exactly the limit, then a newline: accepted
    assert scan_corpus(ok).lines == 2
    # a few kB of gzip that inflate to one line far past the limit: refused while reading it
    bomb = tmp_path / "bomb.gz"
    bomb.write_bytes(gzip.compress(b"fine line\n" + b"x" * (8 * MAX_LINE_BYTES)))
    assert bomb.stat().st_size < 100_000
    with pytest.raises(CorpusFormatError, match="line 2.*longer than"):
        scan_corpus(bomb)
    with pytest.raises(CorpusFormatError, match="line 2"):
        list(LineCorpus(bomb))


def test_distinct_count_is_given_up_past_max_distinct(tmp_path):
    p = tmp_path / "c.txt"
    p.write_text("aa bb cc\ndd ee\n", encoding="utf-8")
    assert scan_corpus(p, max_distinct=5).distinct == 5
    stats = scan_corpus(p, max_distinct=4)
    assert stats.distinct is None and stats.tokens == 5


def test_lone_surrogate_escape_in_a_jsonl_token_is_a_bad_line(tmp_path):
    p = tmp_path / "c.jsonl"
    p.write_text('["a", "b"]\n["ok", "x\\ud800"]\n["\\ud83d\\ude00"]\n', encoding="utf-8")  # a pair is fine
    with pytest.raises(CorpusFormatError) as e:
        scan_corpus(p, "jsonl")
    assert e.value.line == 2 and "surrogate" in e.value.reason and "token 1" in e.value.reason
    str(e.value).encode("utf-8")  # the message itself is Unicode text (the surrogate is escaped)
    with pytest.raises(CorpusFormatError, match="line 2"):
        list(LineCorpus(p, "jsonl"))
    p.write_text('["\\ud83d\\ude00", "b"]\n', encoding="utf-8")
    assert list(LineCorpus(p, "jsonl")) == [["\U0001f600", "b"]]


def test_gzip_bomb_stops_at_the_decompressed_limit(tmp_path):
    """~300 KB of gzip inflating to 128 MiB: refused after ~1 MiB read, not after inflating it all."""
    import time

    p = tmp_path / "bomb.txt.gz"
    line = b"word " * 200 + b"\n"
    with gzip.open(p, "wb", compresslevel=9) as f:
        for _ in range((128 << 20) // len(line)):
            f.write(line)
    assert p.stat().st_size < 1 << 20
    started = time.perf_counter()
    with pytest.raises(CorpusTooLargeError) as e:
        scan_corpus(p, max_decompressed_bytes=1 << 20)
    assert time.perf_counter() - started < 5
    assert e.value.limit == 1 << 20 and e.value.line == (1 << 20) // len(line) + 1
    assert "1048576" in str(e.value) and not isinstance(e.value, CorpusFormatError)
    with pytest.raises(CorpusTooLargeError):
        list(iter_sentences(p, max_decompressed_bytes=1 << 20))


def test_decompressed_limit_applies_to_gzip_only_and_allows_up_to_it(tmp_path):
    text = b"aa bb\ncc dd\n"  # 12 bytes
    gz = tmp_path / "c.gz"
    gz.write_bytes(gzip.compress(text))
    assert scan_corpus(gz, max_decompressed_bytes=12).tokens == 4
    with pytest.raises(CorpusTooLargeError) as e:
        scan_corpus(gz, max_decompressed_bytes=11)
    assert e.value.line == 2
    plain = tmp_path / "c.txt"
    plain.write_bytes(text)  # a plain file is bounded by the upload limit, not this one
    assert scan_corpus(plain, max_decompressed_bytes=1).tokens == 4


def test_max_token_count_is_the_most_frequent_tokens_count(tmp_path):
    p = tmp_path / "c.txt"
    p.write_text("the cat the dog\nThe end\n", encoding="utf-8")
    stats = scan_corpus(p)
    assert stats.max_token_count == 3 and stats.distinct == 4  # lowercased: the x3
    assert scan_corpus(p, "text", Tokenizer(keep_case=True)).max_token_count == 2
    # unknown once distinct counting stops (or never started): None, not a wrong figure
    assert scan_corpus(p, max_distinct=3).max_token_count is None
    assert scan_corpus(p, count_distinct=False).max_token_count is None
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n", encoding="utf-8")
    assert scan_corpus(empty).max_token_count == 0
