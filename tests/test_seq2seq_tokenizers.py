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
