"""Clients of the attention service (port 8002): :class:`AttentionClient` and :class:`AsyncAttentionClient`.

Every method of :class:`AttentionAPI` is one call of the service; the sync client returns its
result, the async one is a coroutine function of it (awaited).

>>> client = AttentionClient("http://127.0.0.1:8002")
>>> accepted = client.train("rev", task={"name": "reversal", "n_train": 2000}, params={"epochs": 5})
>>> client.wait_job(accepted.job_id).status
'succeeded'
>>> t = client.translate("dates", ["5/3/2026"])[0]
>>> t.output, t.pharaoh
('2026-03-05', '0-9 1-8 2-6 ...')
>>> png = client.heatmap("dates", "5/3/2026")          # bytes of a PNG image
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from service.catalog import SERVICES
from service.client.base import AsyncClient, ServiceAPI, SyncClient, operation, seg
from service.client.http import Call, ProgressCallback, Upload, json_object, nothing, raw_bytes
from service.client.results import Accepted, Alignment, ResultList, Translation

DEFAULT_URL = SERVICES["attention"].url


def _drop_none(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if v is not None}


class AttentionAPI(ServiceAPI):
    """The attention service's routes (plus the shared models/versions/jobs of :class:`ServiceAPI`)."""

    # ----------------------------------------------------------------- datasets

    @operation
    def upload_dataset(
        self,
        path: str | Path,
        *,
        name: str | None = None,
        format: str = "auto",  # noqa: A002
        progress: ProgressCallback | None = None,
    ) -> Call[dict[str, Any]]:
        """Upload a dataset file: pairs as ``tsv`` (``source<TAB>target[<TAB>links]``) or ``jsonl``,
        or ``word2vec`` vectors (``auto`` tells TSV from JSON lines); returns its description
        (``id``, ``kind``, ``pairs``…). ``name`` gives it its id (409 when taken; else 32 hex
        characters). ``progress(sent, total)`` per chunk.

        >>> client.upload_dataset("rev.tsv")["pairs"]
        5
        """
        return Call(
            "POST",
            "/v1/datasets",
            json_object,
            params={"format": format, "name": name},
            upload=Upload(Path(path), progress),
        )

    @operation
    def datasets(self) -> Call[ResultList[dict[str, Any]]]:
        """Every uploaded dataset: a :class:`ResultList` of dicts (``raw``: ``{"datasets": [...]}``)."""
        return Call("GET", "/v1/datasets", lambda d: ResultList(d["datasets"], d))

    @operation
    def dataset(self, dataset_id: str) -> Call[dict[str, Any]]:
        """One dataset's description, with a ``sample`` of its first pairs."""
        return Call("GET", f"/v1/datasets/{seg(dataset_id)}", json_object)

    @operation
    def delete_dataset(self, dataset_id: str) -> Call[None]:
        """Delete an uploaded dataset."""
        return Call("DELETE", f"/v1/datasets/{seg(dataset_id)}", nothing, accept="none")

    # ----------------------------------------------------------------- training

    @operation
    def train(
        self,
        name: str,
        *,
        task: dict[str, Any] | None = None,
        dataset_id: str | None = None,
        pairs: Sequence[Sequence[str]] | None = None,
        dev_fraction: float | None = None,
        dev_dataset_id: str | None = None,
        config: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        embeddings: dict[str, Any] | None = None,
        embeddings_file: str | None = None,
        freeze_embeddings: bool | None = None,
        overwrite: bool = False,
    ) -> Call[Accepted]:
        """Start training ``name`` on a built-in ``task`` (``{"name": "dates"|"reversal"|"copy", ...}``),
        an uploaded ``dataset_id`` or inline ``pairs``; returns the :class:`Accepted` job.
        ``config``: the architecture (``hidden``, ``attention``…); ``params``: the optimisation
        (``epochs``, ``lr``, ``schedule``…). A taken name is a 409 unless ``overwrite``.

        >>> client.train("rev", task={"name": "reversal", "n_train": 500}, params={"epochs": 2}).job_id
        '5f0c…'
        """
        body = _drop_none(
            {
                "name": name,
                "task": task,
                "dataset_id": dataset_id,
                "pairs": [list(p) for p in pairs] if pairs is not None else None,
                "dev_fraction": dev_fraction,
                "dev_dataset_id": dev_dataset_id,
                "config": config,
                "params": params,
                "embeddings": embeddings,
                "embeddings_file": embeddings_file,
                "freeze_embeddings": freeze_embeddings,
                "overwrite": overwrite or None,
            }
        )
        return Call("POST", "/v1/models", Accepted.from_dict, json=body)

    # ----------------------------------------------------------------- inference

    @operation
    def translate(
        self,
        name: str,
        inputs: Sequence[str],
        *,
        decode: str = "greedy",
        beam_size: int | None = None,
        max_len: int | None = None,
        return_attention: bool = True,
        n_best: int | None = None,
        length_penalty: float | None = None,
        coverage_penalty: float | None = None,
        version: int | None = None,
    ) -> Call[ResultList[Translation]]:
        """Decode each input (``decode="beam"`` with ``beam_size``); a :class:`ResultList` of
        :class:`Translation` (``raw``: the whole answer, with ``model`` and ``version``). Beam search
        only: ``n_best`` hypotheses per input (``Translation.hypotheses``), GNMT's ``length_penalty``
        (alpha) and ``coverage_penalty`` (beta).

        >>> [t.output for t in client.translate("dates", ["26 november 2026"])]
        ['2026-11-26']
        """
        body = _drop_none(
            {
                "inputs": list(inputs),
                "decode": decode,
                "beam_size": beam_size,
                "max_len": max_len,
                "return_attention": return_attention,
                "n_best": n_best,
                "length_penalty": length_penalty,
                "coverage_penalty": coverage_penalty,
            }
        )
        return Call(
            "POST",
            f"/v1/models/{seg(name)}/translate",
            lambda d: ResultList([Translation.from_dict(o) for o in d["outputs"]], d),
            params={"version": version},
            json=body,
            idempotent=True,
        )

    @operation
    def align(
        self,
        name: str,
        pairs: Sequence[Sequence[str]],
        *,
        gold: Sequence[str | None] | None = None,
        version: int | None = None,
    ) -> Call[ResultList[Alignment]]:
        """The attention of given (source, target) pairs (teacher-forced); a :class:`ResultList` of
        :class:`Alignment`. With ``gold`` (one Pharaoh string per pair) each alignment has
        ``scores`` (precision, recall, AER) and ``raw`` the request's ``scores`` and ``alignment_accuracy``.

        >>> client.align("dates", [("5/3/2026", "2026-03-05")])[0].pharaoh
        '0-9 1-8 ...'
        """
        body = _drop_none(
            {"pairs": [list(p) for p in pairs], "gold": list(gold) if gold is not None else None}
        )
        return Call(
            "POST",
            f"/v1/models/{seg(name)}/align",
            lambda d: ResultList([Alignment.from_dict(a) for a in d["alignments"]], d),
            params={"version": version},
            json=body,
            idempotent=True,
        )

    @operation
    def heatmap(
        self,
        name: str,
        input: str,  # noqa: A002
        *,
        target: str | None = None,
        fmt: str = "png",
        decode: str | None = None,
        beam_size: int | None = None,
        version: int | None = None,
    ) -> Call[bytes]:
        """The attention heatmap of a decoded ``input`` (or of a given ``target``) as image bytes
        (``fmt`` ``png`` or ``svg``).

        >>> Path("dates.png").write_bytes(client.heatmap("dates", "5/3/2026"))
        """
        if fmt not in ("png", "svg"):
            raise ValueError(f"fmt is 'png' or 'svg', not {fmt!r}")
        return Call(
            "GET",
            f"/v1/models/{seg(name)}/attention.{fmt}",
            raw_bytes,
            params={
                "input": input,
                "target": target,
                "decode": decode,
                "beam_size": beam_size,
                "version": version,
            },
            accept="bytes",
        )

    @operation
    def evaluate(
        self,
        name: str,
        *,
        split: str | None = None,
        pairs: Sequence[Sequence[str]] | None = None,
        decode: str = "greedy",
        beam_size: int | None = None,
        version: int | None = None,
    ) -> Call[dict[str, Any]]:
        """Exact match, token accuracy, BLEU (and AER with gold links) on a built-in ``split``
        (``dev``/``test``) or on given ``pairs``; returns the service's figures as a dict.

        >>> client.evaluate("dates", split="test")["exact_match"]
        1.0
        """
        body = _drop_none(
            {
                "split": split,
                "pairs": [list(p) for p in pairs] if pairs is not None else None,
                "decode": decode,
                "beam_size": beam_size,
            }
        )
        return Call(
            "POST",
            f"/v1/models/{seg(name)}/evaluate",
            json_object,
            params={"version": version},
            json=body,
            idempotent=True,
        )


class AttentionClient(AttentionAPI, SyncClient):
    """Synchronous client of the attention service (default ``http://127.0.0.1:8002``).

    >>> client = AttentionClient("http://127.0.0.1:8002")
    >>> client.translate("dates", ["nov 26, 2026"])[0].output
    '2026-11-26'
    """

    default_url = DEFAULT_URL


class AsyncAttentionClient(AttentionAPI, AsyncClient):
    """Asynchronous client of the attention service: the methods of :class:`AttentionAPI`, awaited.

    >>> async with AsyncAttentionClient("http://127.0.0.1:8002") as client:
    ...     outputs = await client.translate("dates", ["nov 26, 2026"])
    """

    default_url = DEFAULT_URL


__all__ = ["DEFAULT_URL", "AsyncAttentionClient", "AttentionAPI", "AttentionClient"]
