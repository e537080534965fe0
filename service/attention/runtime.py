"""The attention service's runtime: what it adds to the kit's (:class:`~service.kit.runtime.ServiceRuntime`).

* the loader: a stored version becomes a :class:`~models.seq2seq.model.Seq2Seq` in eval mode
  (:mod:`service.attention.checkpoints`, weights loaded with ``weights_only=True``);
* the default model: the core's dates recipe (:data:`models.seq2seq.recipes.DEFAULT_DATES_RECIPE`).
"""

from __future__ import annotations

import copy
from typing import Annotated, Any

import torch
from fastapi import Depends

from models.seq2seq.devices import resolve_device
from models.seq2seq.model import Seq2Seq
from models.seq2seq.recipes import DEFAULT_DATES_RECIPE
from service.attention import checkpoints
from service.attention.settings import Settings
from service.kit.cpus import available_cpus
from service.kit.model_store import ModelVersion
from service.kit.registry import LoadedModel
from service.kit.runtime import ServiceRuntime, get_runtime

#: A model version in memory, as the registry returns it.
LoadedSeq2Seq = LoadedModel[Seq2Seq]


class AttentionRuntime(ServiceRuntime[Seq2Seq]):
    """Stores, registry and jobs of the attention service."""

    uploads_name = "datasets"
    upload_kind = "dataset"
    job_target = "service.attention.worker:train_job"
    stoppable_targets = (job_target,)
    preload = ("service.attention.worker",)

    settings: Settings

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        #: Where models are loaded and decode (``ATTENTION_DEVICE``); jobs resolve the setting themselves.
        self.device = resolve_device(settings.device)

    def start(self, *, background: bool = True) -> None:
        torch.set_num_threads(self.settings.threads)
        super().start(background=background)

    def load_model(self, version: ModelVersion) -> Seq2Seq:
        return checkpoints.load(version.path).to(self.device)

    def default_job_spec(self) -> dict[str, Any]:
        recipe = copy.deepcopy(DEFAULT_DATES_RECIPE)
        name = self.settings.default_model
        return {
            **self.job_spec_base(name),
            "config": recipe["config"],
            "params": recipe["params"],
            "source": {"task": {"name": "dates", "kwargs": recipe["task"]}},
            "dev": None,
            "embeddings": None,
            "request": {"name": name, "recipe": "DEFAULT_DATES_RECIPE"},
        }

    def job_spec_base(self, name: str) -> dict[str, Any]:
        """The parts of a training job's spec that come from the service, not the request."""
        return {
            "name": name,
            "models_dir": str(self.models_dir),
            "threads": self.settings.job_threads or available_cpus(),
            "max_src_len": self.settings.max_input_tokens,
            "max_output_len": self.settings.max_output_len,
            "device": self.settings.device,
        }

    def uploads_of(self, spec: dict[str, Any]) -> set[str]:
        ids = set()
        for part in (spec.get("source"), spec.get("dev")):
            if isinstance(part, dict) and isinstance(part.get("dataset"), dict):
                ids.add(part["dataset"].get("id"))
        emb = spec.get("embeddings")
        if isinstance(emb, dict) and emb.get("id"):
            ids.add(emb["id"])
        return ids


#: The runtime, as a route parameter.
Runtime = Annotated[AttentionRuntime, Depends(get_runtime)]
