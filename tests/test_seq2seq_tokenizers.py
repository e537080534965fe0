import pytest

from models.seq2seq.tokenizers import get_tokenizer


def test_round_trips():
    char, word = get_tokenizer("char"), get_tokenizer("word")
    assert char.tokenize("ab c") == ["a", "b", " ", "c"]
    assert char.detokenize(char.tokenize("ab c")) == "ab c"
    assert word.tokenize(" the  cat ") == ["the", "cat"]
    assert word.detokenize(["the", "cat"]) == "the cat"
    with pytest.raises(ValueError):
        get_tokenizer("bpe")


def test_tokenization_per_side():
    from models.seq2seq.tokenizers import normalize_tokenization, tokenization_sides

    assert tokenization_sides("char") == ("char", "char")
    assert tokenization_sides({"source": "char", "target": "word"}) == ("char", "word")
    assert normalize_tokenization({"source": "word", "target": "word"}) == "word"
    assert normalize_tokenization({"source": "char", "target": "word"}) == {
        "source": "char",
        "target": "word",
    }
    for bad in ("bpe", {"source": "char"}, {"source": "char", "target": "bpe"}, 3):
        with pytest.raises(ValueError):
            tokenization_sides(bad)
