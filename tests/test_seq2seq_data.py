import pytest
import torch

from models.seq2seq.data import (
    DataError,
    Example,
    encode_examples,
    examples_from_pairs,
    iterate_batches,
    parse_jsonl,
    parse_tsv,
)
from models.seq2seq.tokenizers import get_tokenizer
from models.vocab import Vocabulary


def test_inline_tsv_jsonl():
    ex = examples_from_pairs(
        [("ab", "ba"), ["c", "c", [(0, 0)]], {"source": "x", "target": "y", "links": "0-0"}]
    )
    assert ex[0] == Example("ab", "ba") and ex[1].links == ((0, 0),) and ex[2].links == ((0, 0),)
    assert parse_tsv("ab\tba\n\ncd\tdc\t0-1 1-0\n") == [
        Example("ab", "ba"),
        Example("cd", "dc", ((0, 1), (1, 0))),
    ]
    assert parse_jsonl('{"source": "a", "target": "b"}\n["c", "d"]\n') == [
        Example("a", "b"),
        Example("c", "d"),
    ]


@pytest.mark.parametrize(
    "parser,text,line",
    [
        (parse_tsv, "a\tb\nno tab here\n", 2),
        (parse_tsv, "a\tb\n\n\tb\n", 3),
        (parse_jsonl, '["a", "b"]\n{"source": "a"}\n', 2),
        (parse_jsonl, '["a", "b"]\n["a", "b"]\n{oops\n', 3),
        (parse_jsonl, "[1, 2]\n", 1),
        # a lone surrogate escape is not Unicode text: refused where it is read, naming the line
        (parse_jsonl, '["a", "b"]\n["x\\ud800", "y"]\n', 2),
        (parse_jsonl, '["a", "b"]\n["a", "b"]\n{"source": "a", "target": "\\udfff"}\n', 3),
        (parse_jsonl, '{"source": "a", "target": "b", "\\ud800": 1}\n', 1),
    ],
)
def test_bad_lines_name_their_line(parser, text, line):
    with pytest.raises(DataError) as err:
        parser(text)
    assert err.value.line == line and f"line {line}" in str(err.value)
    assert isinstance(err.value, ValueError)


def test_bucketed_padded_batches():
    tok = get_tokenizer("char")
    examples = [Example("abc", "xy"), Example("a", "xyz"), Example("ab", ""), Example("abcd", "x")]
    sv, tv = Vocabulary(list("abcd")), Vocabulary(list("xyz"))
    data = encode_examples(examples, tok, sv, tv)
    batches = list(iterate_batches(data, tv, batch_size=2, shuffle=True, seed=1))
    assert sorted(i for b in batches for i in b.indices) == [0, 1, 2, 3]
    for b in batches:
        assert b.src.dtype == torch.long and b.src.shape[0] == len(b.indices)
        for row, i in enumerate(b.indices):
            n = len(examples[i].source)
            assert b.src_lengths[row] == n
            assert torch.all(b.src[row, n:] == 0)
            t = tv.encode(list(examples[i].target))
            m = len(t) + 1
            assert b.tgt_in[row, :m].tolist() == [tv.bos_id, *t]
            assert b.tgt_out[row, :m].tolist() == [*t, tv.eos_id]
            assert torch.all(b.tgt_out[row, m:] == 0)
    with pytest.raises(DataError):
        encode_examples(examples, tok, sv, tv, max_src_len=3)


def test_lines_split_as_splitlines_one_at_a_time():
    from models.seq2seq.data import _lines

    for text in ["", "\n", "a", "a\n", "a\r\nb\rc\n\nd", "x\x0by\x0cz\x1cw\x85v\u2028u\u2029t\r", "\r\n\r\n"]:
        assert list(_lines(text)) == text.splitlines(), repr(text)


def test_more_pairs_than_the_limit_is_a_data_error_naming_the_line():
    text = "a\tb\n\nc\td\ne\tf\n"
    assert len(parse_tsv(text, max_pairs=3)) == 3
    with pytest.raises(DataError) as err:
        parse_tsv(text, max_pairs=2)
    assert err.value.line == 4 and "more than 2 pairs" in str(err.value)
    with pytest.raises(DataError) as err:
        parse_jsonl('["a", "b"]\n["c", "d"]\n', max_pairs=1)
    assert err.value.line == 2


def test_lone_surrogate_line_names_the_member_and_pairs_are_fine():
    with pytest.raises(DataError) as err:
        parse_jsonl('{"source": "ok", "target": "x\\ud800"}\n')
    assert "surrogate" in err.value.reason and "target" in err.value.reason
    str(err.value).encode("utf-8")
    assert parse_jsonl('["\\ud83d\\ude00", "b"]\n') == [Example("\U0001f600", "b")]


def test_alternative_targets_from_json_lines():
    from models.seq2seq.data import DataError, Example, parse_jsonl

    [ex] = parse_jsonl('{"source": "tomato", "target": "T AH M EY T OW", "alternatives": ["T AH M AA T OW"]}')
    assert ex.alternatives == ("T AH M AA T OW",) and ex.references == ("T AH M EY T OW", "T AH M AA T OW")
    assert Example("a", "b").references == ("b",)
    with pytest.raises(DataError, match="alternatives"):
        parse_jsonl('{"source": "a", "target": "b", "alternatives": "c"}')
