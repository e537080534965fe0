"""Sniffing and checking user files (``models/embeddings/formats.py``): formats recognised from their first
bytes; pickles and archives refused before any parser (or unpickler) sees them, through the import entry
point a user file takes; truncated files caught by their header counts."""

import io
import pickle
import zipfile

import pytest
from gensim.test.utils import datapath

from models.embeddings.errors import InvalidModelFileError, NotAPickleSafeFileError
from models.embeddings.formats import check_file, sniff_format
from models.embeddings.vector_import import import_vectors

FORMATS = ["auto", "word2vec-text", "word2vec-binary", "fasttext-bin"]


@pytest.mark.parametrize(
    "name, fmt",
    [
        ("euclidean_vectors.bin", "word2vec-binary"),
        ("lee_fasttext.vec", "word2vec-text"),
        ("lee_fasttext.bin", "fasttext-bin"),
        ("lee_fasttext_new.bin", "fasttext-bin"),
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
