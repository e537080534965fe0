import pytest
import torch

from models.seq2seq.encoders import RecurrentEncoder


@pytest.mark.parametrize("bidirectional,layers", [(True, 1), (False, 2), (True, 2)])
def test_pad_contents_do_not_matter(bidirectional, layers):
    torch.manual_seed(0)
    enc = RecurrentEncoder(12, 6, 8, layers=layers, bidirectional=bidirectional, dropout=0.3).eval()
    lengths = torch.tensor([5, 2, 3])
    src = torch.randint(4, 12, (3, 5))
    mask = torch.arange(5)[None, :] < lengths[:, None]
    src[~mask] = 0
    noisy = src.clone()
    noisy[~mask] = torch.randint(4, 12, (int((~mask).sum()),))
    out1, fin1 = enc(src, lengths)
    out2, fin2 = enc(noisy, lengths)
    d = 2 if bidirectional else 1
    assert out1.shape == (3, 5, 8 * d) and fin1.shape == (3, 8 * d)
    torch.testing.assert_close(out1[mask], out2[mask], rtol=0, atol=1e-6)
    torch.testing.assert_close(fin1, fin2, rtol=0, atol=1e-6)
    assert torch.all(out1[~mask] == 0)


def test_rows_match_unbatched():
    torch.manual_seed(1)
    enc = RecurrentEncoder(12, 6, 8).eval()
    lengths = torch.tensor([2, 5])
    src = torch.randint(4, 12, (2, 5))
    out, fin = enc(src, lengths)
    out0, fin0 = enc(src[:1, :2], lengths[:1])
    torch.testing.assert_close(out[0, :2], out0[0], rtol=0, atol=1e-5)
    torch.testing.assert_close(fin[0], fin0[0], rtol=0, atol=1e-5)
