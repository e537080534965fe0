import numpy as np
import pytest

from models.seq2seq.heatmap import attention_heatmap


def test_png_and_svg():
    att = np.array([[0.9, 0.1, 0.0], [0.2, 0.3, 0.5]])
    png = attention_heatmap(att, ["a", " ", "c"], ["x", "y"], title="t")
    assert png.startswith(b"\x89PNG")
    svg = attention_heatmap(att, ["a", "b", "c"], ["x", "y"], fmt="svg")
    assert b"<svg" in svg
    with pytest.raises(ValueError):
        attention_heatmap(att, ["a", "b"], ["x", "y"])
    with pytest.raises(ValueError):
        attention_heatmap(att, ["a", "b", "c"], ["x", "y"], fmt="gif")


def test_empty_output_still_draws():
    assert attention_heatmap(np.zeros((0, 2)), ["a", "b"], []).startswith(b"\x89PNG")
