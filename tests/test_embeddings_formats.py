"""Sniffing and checking user files (``models/embeddings/formats.py``): formats recognised from their first
bytes; pickles and archives refused before any parser (or unpickler) sees them, through the import entry
point a user file takes; truncated files caught by their header counts."""

import io
import pickle
import zipfile

import numpy as np
import pytest
from gensim.test.utils import datapath

from models.embeddings.errors import InvalidModelFileError, NotAPickleSafeFileError
from models.embeddings.formats import check_file, sniff_format
from models.embeddings.vector_import import import_vectors

FORMATS = ["auto", "word2vec-text", "word2vec-binary", "glove", "fasttext-bin"]


@pytest.mark.parametrize(
    "name, fmt",
    [
        ("euclidean_vectors.bin", "word2vec-binary"),
        ("lee_fasttext.vec", "word2vec-text"),
        ("lee_fasttext.bin", "fasttext-bin"),
        ("lee_fasttext_new.bin", "fasttext-bin"),
        ("test_glove.txt", "glove"),
        ("pang_lee_polarity_fasttext.bin", "fasttext-bin"),  # sniffed as fastText, refused by check_file
    ],
)
def test_sniff_format_of_user_files(name, fmt):
    assert sniff_format(datapath(name)) == fmt


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("protocol", [0, 1, 2, 3, 4, 5])
def test_pickle_is_never_loaded(tmp_path, protocol):
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_Evil(str(marker)), protocol=protocol)
    # the payload is real: unpickling it (here, deliberately) creates a file
    control = tmp_path / "control"
    pickle.loads(pickle.dumps(_Evil(str(control)), protocol=protocol)).close()
    assert control.exists()
    evil = tmp_path / "model.bin"
    evil.write_bytes(payload)
    for fmt in FORMATS:
        with pytest.raises(InvalidModelFileError) as e:
            import_vectors(evil, fmt)
        if protocol >= 2:
            assert isinstance(e.value, NotAPickleSafeFileError) and "pickle" in str(e.value)
        assert not marker.exists()
    assert not marker.exists()


def test_zip_and_torch_archives_refused(tmp_path):
    marker = tmp_path / "pwned"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:  # torch.save layout: archive/data.pkl
        z.writestr("archive/data.pkl", pickle.dumps(_Evil(str(marker)), protocol=2))
    p = tmp_path / "model.pt"
    p.write_bytes(buf.getvalue())
    for fmt in FORMATS:
        with pytest.raises(NotAPickleSafeFileError, match="zip"):
            import_vectors(p, fmt)
    assert not marker.exists()


def test_check_file_refuses_what_cannot_be_a_vector_file(tmp_path):
    pickled = tmp_path / "p.bin"
    pickled.write_bytes(b"\x80\x04\x95" + b"\0" * 20)
    with pytest.raises(InvalidModelFileError, match="pickle"):
        check_file(pickled)
    short = tmp_path / "s.bin"
    short.write_bytes(b"1000000 300\nab")
    with pytest.raises(InvalidModelFileError, match="truncated"):
        check_file(short)
    assert check_file(datapath("euclidean_vectors.bin")) == "word2vec-binary"


@pytest.mark.parametrize(
    ("first_line", "fmt"),
    [
        (b"the 0.418 0.24968 -0.41242\n", "glove"),  # glove.6B's first line, shortened
        (b", -0.082752 0.67204 -0.14987\n", "glove"),  # glove.840B's: the word is a comma
        (b"3 2\n", "word2vec-text"),  # a header (the file goes on with text records)
    ],
)
def test_glove_is_recognised_by_its_first_line(tmp_path, first_line, fmt):
    p = tmp_path / "v.txt"
    dim = 3 if fmt == "glove" else 2
    p.write_bytes(
        first_line + b"".join(f"w{i} ".encode() + b" ".join([b"0.5"] * dim) + b"\n" for i in range(3))
    )
    assert sniff_format(p) == fmt == check_file(p)


def test_an_unrecognised_text_file_names_what_was_expected(tmp_path):
    p = tmp_path / "notes.txt"
    p.write_bytes(b"hello world this is text\nand more\n")
    with pytest.raises(InvalidModelFileError, match="neither a word2vec header .* nor a GloVe vector"):
        check_file(p)


def test_fasttext_refusals_are_422_material_at_once(tmp_path):
    from bench.fasttext_bench import write_fasttext_bin

    with pytest.raises(InvalidModelFileError, match="supervised fastText model \\(2 labels\\)"):
        check_file(datapath("pang_lee_polarity_fasttext.bin"))
    ftz = tmp_path / "m.ftz"
    write_fasttext_bin(ftz, 10, 20, 4, quantized=True)
    with pytest.raises(InvalidModelFileError, match="quantized fastText model \\(.ftz\\)"):
        check_file(ftz)
    cut = tmp_path / "cut.bin"
    write_fasttext_bin(cut, 10, 20, 4)
    cut.write_bytes(cut.read_bytes()[:200])  # inside the dictionary
    with pytest.raises(InvalidModelFileError, match="truncated"):
        check_file(cut)


def test_a_binary_file_read_with_a_wrong_vector_size_is_refused_at_once(tmp_path):
    rng = np.random.default_rng(0)
    p = tmp_path / "v.bin"
    records = b"".join(
        f"word{i} ".encode() + rng.standard_normal(5).astype("<f4").tobytes() for i in range(40)
    )
    p.write_bytes(b"40 4\n" + records)  # the records hold 5 floats
    with pytest.raises(InvalidModelFileError, match="the header's vector size 4|vector size 4") as err:
        check_file(p)
    assert err.value.offset is not None
    p.write_bytes(b"40 5\n" + records)
    assert check_file(p) == "word2vec-binary"
