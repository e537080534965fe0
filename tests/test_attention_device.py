"""``ATTENTION_DEVICE`` (auto, cpu, cuda): where the service's models train and decode. ``cuda`` without
a usable GPU stops the service at start-up with a message naming the setting; the CUDA path runs
only where torch sees a GPU."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from pydantic import ValidationError

from models.seq2seq.devices import model_device
from service.attention.settings import Settings
from tests.helpers import attention_client, train

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="torch sees no CUDA GPU")
NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is present")
BODY = {
    "task": {"name": "reversal", "n_train": 200, "n_dev": 20, "n_test": 20, "min_len": 2, "max_len": 4},
    "config": {"emb_dim": 8, "hidden": 16},
    "params": {"epochs": 1, "batch_size": 32},
}


def test_device_takes_auto_cpu_or_cuda():
    assert Settings().device == "auto"
    assert Settings(device="cpu").device == "cpu"
    with pytest.raises(ValidationError) as err:
        Settings(device="gpu")
    assert err.value.errors()[0]["loc"] == ("device",)


@NO_CUDA
def test_cuda_without_a_gpu_stops_the_service_at_start_up(tmp_path):
    with pytest.raises(ValidationError, match="torch finds no CUDA GPU"):
        Settings(device="cuda")
    env = {**os.environ, "ATTENTION_DEVICE": "cuda", "ATTENTION_DATA_DIR": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "service", "attention", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    assert "ATTENTION_DEVICE" in proc.stderr and "no CUDA GPU" in proc.stderr, proc.stderr


def test_cpu_trains_and_serves_on_the_cpu(tmp_path):
    with attention_client(tmp_path, device="cpu") as client:
        job = train(client, {"name": "rev", **BODY})
        runtime = client.app.state.runtime
        assert job["result"]["version"] == 1 and runtime.device == torch.device("cpu")
        assert model_device(runtime.registry.get("rev").model) == torch.device("cpu")
        r = client.post("/v1/models/rev/translate", json={"inputs": ["abc"]})
        assert r.status_code == 200, r.text


@CUDA
def test_cuda_trains_and_serves_on_the_gpu_like_the_cpu(tmp_path):
    with attention_client(tmp_path / "gpu", device="cuda") as gpu:
        train(gpu, {"name": "rev", **BODY})
        assert model_device(gpu.app.state.runtime.registry.get("rev").model).type == "cuda"
        on_gpu = gpu.post("/v1/models/rev/translate", json={"inputs": ["abc", "dcba"]}).json()["outputs"]
    # the version trained on the GPU, served from the CPU: the same answers, to float tolerance
    with attention_client(tmp_path / "gpu", device="cpu") as cpu:
        on_cpu = cpu.post("/v1/models/rev/translate", json={"inputs": ["abc", "dcba"]}).json()["outputs"]
    for a, b in zip(on_gpu, on_cpu, strict=True):
        assert a["output"] == b["output"] and a["score"] == pytest.approx(b["score"], abs=1e-4)
