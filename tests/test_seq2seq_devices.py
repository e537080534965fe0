"""Devices: ``resolve_device`` (auto, cpu, cuda), and the same model on CPU and CUDA.

The CPU path runs everywhere. The CUDA tests (translate, align, evaluate answer like the CPU to float
tolerance; training runs on the GPU; a checkpoint saved from it loads on the CPU) run only where torch
sees a GPU."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.seq2seq.checkpoint import load_checkpoint, save_checkpoint
from models.seq2seq.data import encode_examples, examples_from_pairs, make_batch
from models.seq2seq.devices import model_device, resolve_device
from models.seq2seq.evaluation import teacher_forced_loss
from models.seq2seq.inference import align, translate
from models.seq2seq.model import Seq2Seq, Seq2SeqConfig
from models.seq2seq.tasks import reversal_task
from models.seq2seq.training import train
from models.vocab import Vocabulary

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="torch sees no CUDA GPU")
NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is present")
TEXTS = ["abc", "f", "abcdefabcd", "cab", "zz"]


def _model() -> Seq2Seq:
    torch.manual_seed(0)
    cfg = Seq2SeqConfig(emb_dim=8, hidden=10, attention="bahdanau", max_src_len=12, max_tgt_len=8)
    return Seq2Seq(cfg, Vocabulary(list("abcdef")), Vocabulary(list("abcdef"))).eval()


def test_auto_is_cuda_exactly_when_torch_sees_a_gpu():
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == resolve_device(None) == resolve_device(torch.device("cpu"))


@pytest.mark.parametrize("name", ["gpu", "CUDA", "cuda:x", ""])
def test_an_unknown_device_name_is_a_value_error(name):
    with pytest.raises(ValueError, match="device must be 'auto', 'cpu', 'cuda' or 'cuda:N'"):
        resolve_device(name)


@NO_CUDA
@pytest.mark.parametrize("name", ["cuda", "cuda:0"])
def test_cuda_without_a_gpu_says_why(name):
    with pytest.raises(ValueError, match="torch finds no CUDA GPU") as err:
        resolve_device(name)
    assert "use 'cpu' or 'auto'" in str(err.value)


def test_cpu_training_returns_the_model_on_the_cpu_and_inference_follows_it():
    task = reversal_task(n_train=60, n_dev=10, n_test=0, min_len=2, max_len=4, seed=0)
    result = train(
        {"emb_dim": 8, "hidden": 12}, task.train, task.dev, {"epochs": 1, "batch_size": 16}, device="cpu"
    )
    assert model_device(result.model) == torch.device("cpu")
    assert len(translate(result.model, ["abc"])) == 1


def test_a_batch_moves_with_its_pads():
    model = _model()
    data = encode_examples(
        examples_from_pairs([("ab", "ba"), ("abcd", "dcba")]),
        model.src_tokenizer,
        model.src_vocab,
        model.tgt_vocab,
        tgt_tokenizer=model.tgt_tokenizer,
    )
    batch = make_batch(data, [0, 1], model.tgt_vocab)
    moved = batch.to("cpu")
    assert moved is batch  # already there: no copy
    assert moved.src.tolist() == batch.src.tolist() and moved.indices == [0, 1]


# ---------------------------------------------------------------------------------------------- CUDA


@CUDA
@pytest.mark.parametrize("beam_size", [1, 4])
def test_cuda_translate_matches_cpu(beam_size):
    cpu = _model()
    gpu = _model().to("cuda")
    a = translate(cpu, TEXTS, beam_size=beam_size)
    b = translate(gpu, TEXTS, beam_size=beam_size)
    for x, y in zip(a, b, strict=True):
        assert x.ids == y.ids
        assert x.score == pytest.approx(y.score, abs=1e-4)
        np.testing.assert_allclose(x.attention, y.attention, atol=1e-4)
        assert isinstance(y.attention, np.ndarray)


@CUDA
def test_cuda_align_and_loss_match_cpu():
    cpu, gpu = _model(), _model().to("cuda")
    pairs = [("abc", "cba"), ("abcdef", "fedcba")]
    for x, y in zip(align(cpu, pairs), align(gpu, pairs), strict=True):
        np.testing.assert_allclose(x.attention, y.attention, atol=1e-4)
        assert x.log_prob == pytest.approx(y.log_prob, abs=1e-3)
    examples = examples_from_pairs(pairs)
    assert teacher_forced_loss(cpu, examples) == pytest.approx(teacher_forced_loss(gpu, examples), abs=1e-4)


@CUDA
def test_cuda_training_runs_and_its_checkpoint_loads_on_the_cpu(tmp_path):
    task = reversal_task(n_train=200, n_dev=20, n_test=0, min_len=2, max_len=4, seed=0)
    params = {"epochs": 2, "batch_size": 32, "teacher_forcing": 0.5, "guided_alignment_weight": 0.0}
    result = train({"emb_dim": 8, "hidden": 16}, task.train, task.dev, params, device="cuda")
    assert model_device(result.model).type == "cuda" and result.metrics["steps"] == 14
    save_checkpoint(tmp_path / "ckpt", result.model, result.metrics)
    loaded, _ = load_checkpoint(tmp_path / "ckpt")
    assert model_device(loaded) == torch.device("cpu")
    sources = [e.source for e in task.dev]
    on_gpu = [t.ids for t in translate(result.model, sources)]
    assert [t.ids for t in translate(loaded.eval(), sources)] == on_gpu
