"""Tests for models/vocab.py: specials, build, encode/decode, persistence."""

from __future__ import annotations

import doctest
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import models.vocab
from models.vocab import BOS, EOS, PAD, SPECIALS, UNK, Vocabulary

PROPS = settings(max_examples=100, deadline=None)

words = st.text(alphabet="abcdefgh<>/ ", min_size=1, max_size=4)
corpora = st.lists(st.lists(words, max_size=8), max_size=8)


def test_specials_have_fixed_ids_and_pad_is_not_bos():
    vocab = Vocabulary(["x"])
    assert (vocab.pad_id, vocab.unk_id, vocab.bos_id, vocab.eos_id) == (0, 1, 2, 3)
    assert SPECIALS == (PAD, UNK, BOS, EOS) == ("<pad>", "<unk>", "<s>", "</s>")
    assert vocab.pad_id != vocab.bos_id
    assert vocab.tokens == ["<pad>", "<unk>", "<s>", "</s>", "x"]
    assert [vocab.lookup(t) for t in SPECIALS] == [0, 1, 2, 3]
    assert len(Vocabulary()) == 4


def test_constructor_rejects_duplicates_specials_and_non_strings():
    with pytest.raises(ValueError, match="'a' is a duplicate token"):
        Vocabulary(["a", "b", "a"])
    with pytest.raises(ValueError, match="'<pad>' is a reserved special token"):
        Vocabulary(["<pad>"])
    with pytest.raises(ValueError, match="tokens must be strings"):
        Vocabulary(["a", 3])


def test_contains_len_tokens_is_a_copy():
    vocab = Vocabulary(["a", "b"])
    assert "a" in vocab and "<unk>" in vocab and "c" not in vocab
    assert len(vocab) == 6
    vocab.tokens.append("zzz")
    assert len(vocab) == 6 and "zzz" not in vocab


def test_build_min_freq_max_size_and_order():
    corpus = [["b", "a", "b", "c"], ["a", "b", "d"], ["c", "e"]]
    # counts: b=3, a=2, c=2, d=1, e=1 -> by -freq then token
    assert Vocabulary.build(corpus).tokens[4:] == ["b", "a", "c", "d", "e"]
    assert Vocabulary.build(corpus, min_freq=2).tokens[4:] == ["b", "a", "c"]
    assert Vocabulary.build(corpus, min_freq=4).tokens[4:] == []
    assert Vocabulary.build(corpus, max_size=2).tokens[4:] == ["b", "a"]
    assert Vocabulary.build(corpus, max_size=0).tokens == list(SPECIALS)
    assert Vocabulary.build(tok for tok in [("x",), ("y", "x")]).tokens[4:] == ["x", "y"]  # any iterables


def test_build_ignores_specials_in_data():
    vocab = Vocabulary.build([["<s>", "a", "</s>", "<pad>", "<unk>"]])
    assert vocab.tokens == [*SPECIALS, "a"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"min_freq": 0}, "min_freq must be an int >= 1"),
        ({"min_freq": 1.5}, "min_freq must be an int >= 1"),
        ({"max_size": -1}, "max_size must be a non-negative int"),
    ],
)
def test_build_argument_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Vocabulary.build([["a"]], **kwargs)


def test_build_accepts_int_likes():
    np = pytest.importorskip("numpy")
    assert Vocabulary.build([["a", "a", "b"]], min_freq=np.int64(2), max_size=np.int32(5)).tokens[4:] == ["a"]
    with pytest.raises(ValueError, match="min_freq"):
        Vocabulary.build([["a"]], min_freq=True)


def test_build_rejects_bare_strings():
    with pytest.raises(ValueError, match="bare string"):
        Vocabulary.build(["hello", "world"])


@PROPS
@given(corpora, st.integers(1, 3), st.one_of(st.none(), st.integers(0, 6)))
def test_build_is_deterministic_and_respects_limits(corpus, min_freq, max_size):
    vocab = Vocabulary.build(corpus, min_freq=min_freq, max_size=max_size)
    shuffled = [list(reversed(seq)) for seq in reversed(corpus)]  # same counts, other order
    assert Vocabulary.build(shuffled, min_freq=min_freq, max_size=max_size) == vocab
    counts: dict[str, int] = {}
    for seq in corpus:
        for tok in seq:
            counts[tok] = counts.get(tok, 0) + 1
    ordinary = vocab.tokens[4:]
    assert all(counts[t] >= min_freq for t in ordinary)
    assert all(t not in SPECIALS for t in ordinary)
    if max_size is not None:
        assert len(ordinary) <= max_size
    keys = [(-counts[t], t) for t in ordinary]
    assert keys == sorted(keys)
    eligible = sorted(
        (t for t, n in counts.items() if n >= min_freq and t not in SPECIALS), key=lambda t: (-counts[t], t)
    )
    assert ordinary == eligible[: len(ordinary)]


def test_lookup_encode_decode():
    vocab = Vocabulary(["the", "cat", "sat"])
    assert vocab.lookup("dog") == vocab.unk_id
    ids = vocab.encode(["the", "dog", "sat"], add_bos=True, add_eos=True)
    assert ids == [2, 4, 1, 6, 3]
    assert vocab.encode([]) == [] and vocab.encode([], add_bos=True, add_eos=True) == [2, 3]
    assert vocab.decode(ids) == ["the", "<unk>", "sat"]
    assert vocab.decode(ids + [0, 0]) == ["the", "<unk>", "sat"]
    assert vocab.decode([4, 3, 5]) == ["the"]  # stops at EOS
    assert vocab.decode([0, 4, 0, 5]) == ["the", "cat"]  # drops pads and BOS
    assert vocab.decode(ids, strip_special=False) == ["<s>", "the", "<unk>", "sat", "</s>"]
    assert vocab.token(5) == "cat"
    with pytest.raises(KeyError):
        vocab.token(99)
    with pytest.raises(ValueError, match="id 7 out of range for a vocabulary of 7 tokens"):
        vocab.decode([7])
    with pytest.raises(ValueError, match="id -1 out of range"):
        vocab.decode([-1])
    with pytest.raises(ValueError, match="bare string"):
        vocab.encode("the cat")


def test_decode_accepts_numpy_and_torch_ids():
    np = pytest.importorskip("numpy")
    torch = pytest.importorskip("torch")
    vocab = Vocabulary(["a", "b"])
    assert vocab.decode(np.array([4, 5, 3])) == ["a", "b"]
    assert vocab.decode(torch.tensor([2, 5, 4])) == ["b", "a"]


def test_unknown_distinct_in_first_appearance_order():
    vocab = Vocabulary(["a", "b"])
    assert vocab.unknown(["z", "a", "y", "z", "<unk>", "y", "b"]) == ["z", "y"]
    assert vocab.unknown([]) == []
    assert vocab.unknown(["a"]) == []


@PROPS
@given(corpora, st.lists(words, max_size=10))
def test_encode_decode_round_trip(corpus, sentence):
    vocab = Vocabulary.build(corpus)
    ids = vocab.encode(sentence, add_bos=True, add_eos=True)
    assert ids[0] == vocab.bos_id and ids[-1] == vocab.eos_id
    expected = [t if t in vocab else "<unk>" for t in sentence]
    decoded = vocab.decode(ids, strip_special=False)[1:-1]
    assert decoded == expected
    unknown = vocab.unknown(sentence)
    assert len(unknown) == len(set(unknown))
    assert all(vocab.lookup(t) == vocab.unk_id for t in unknown)


@PROPS
@given(corpora)
def test_dict_round_trip(corpus):
    vocab = Vocabulary.build(corpus)
    data = vocab.to_dict()
    assert data["specials"] == list(SPECIALS)
    assert json.loads(json.dumps(data)) == data
    assert Vocabulary.from_dict(data) == vocab


def test_save_load_round_trip(tmp_path):
    vocab = Vocabulary(["héllo", "wörld", "日本"])
    path = tmp_path / "vocab.json"
    vocab.save(path)
    assert json.loads(path.read_text(encoding="utf-8")) == {
        "specials": list(SPECIALS),
        "tokens": ["héllo", "wörld", "日本"],
    }
    loaded = Vocabulary.load(path)
    assert loaded == vocab and loaded.tokens == vocab.tokens
    Vocabulary(["other"]).save(str(path))  # overwrite in place, str path works
    assert Vocabulary.load(path).tokens[4:] == ["other"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vocab.json"]  # no temp files left behind


def test_save_failure_leaves_no_temp_file(tmp_path):
    target = tmp_path / "sub"
    target.mkdir()  # os.replace(file, existing directory) fails
    with pytest.raises(OSError):
        Vocabulary(["a"]).save(target)
    assert [p.name for p in tmp_path.iterdir()] == ["sub"]


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ('{"specials": ["<pad>", "<unk>", "<s>"], "tokens": []}', "specials .* differ"),
        ('{"specials": ["<s>", "<unk>", "<pad>", "</s>"], "tokens": []}', "specials .* differ"),
        ('{"specials": ["<pad>", "<unk>", "<s>", "</s>"], "tokens": ["a", "a"]}', "duplicate token"),
        ('{"specials": ["<pad>", "<unk>", "<s>", "</s>"], "tokens": ["<s>"]}', "reserved special"),
        ('{"specials": ["<pad>", "<unk>", "<s>", "</s>"], "tokens": [1]}', "tokens must be strings"),
        ('{"specials": ["<pad>", "<unk>", "<s>", "</s>"], "tokens": "abc"}', "tokens must be a list"),
        ('{"tokens": []}', r"lacks keys \['specials'\]"),
        ("[1, 2]", "must be an object"),
        ("{not json", "not valid JSON"),
        ("", "not valid JSON"),
    ],
)
def test_load_rejects_bad_files(tmp_path, content, match):
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=match):
        Vocabulary.load(path)


def test_load_rejects_non_utf8(tmp_path):
    path = tmp_path / "bad.json"
    path.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ValueError, match="not valid JSON"):
        Vocabulary.load(path)


def test_load_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        Vocabulary.load(tmp_path / "missing.json")


def test_doctests_pass():
    result = doctest.testmod(models.vocab)
    assert result.attempted >= 5
    assert result.failed == 0
