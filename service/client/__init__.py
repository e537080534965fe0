"""Python clients of both services, sync and async, over httpx.

>>> from service.client import EmbeddingsClient, AttentionClient, ProblemError
>>> client = EmbeddingsClient("http://127.0.0.1:8001")
>>> client.similar("default", ["president"], topn=3)
[Neighbour(word='bush', score=0.98...), ...]

Modules: :mod:`~service.client.problems` (errors), :mod:`~service.client.http` (the transport),
:mod:`~service.client.results` (typed results), :mod:`~service.client.jobs` (waiting for jobs),
:mod:`~service.client.base` (the routes both services share), :mod:`~service.client.embeddings`,
:mod:`~service.client.attention`.
"""

from service.client.attention import AsyncAttentionClient, AttentionClient
from service.client.embeddings import AsyncEmbeddingsClient, EmbeddingsClient
from service.client.jobs import JobTimeoutError
from service.client.problems import (
    AuthenticationError,
    ClientProblemError,
    ConflictError,
    NotFoundError,
    ProblemError,
    ServerProblemError,
    ServiceUnreachableError,
    ValidationProblemError,
)
from service.client.results import (
    Accepted,
    Alignment,
    Job,
    ModelInfo,
    Neighbour,
    ResultList,
    Translation,
    Version,
    Versions,
    WordVector,
)

__all__ = [
    "Accepted",
    "Alignment",
    "AsyncAttentionClient",
    "AsyncEmbeddingsClient",
    "AttentionClient",
    "AuthenticationError",
    "ClientProblemError",
    "ConflictError",
    "EmbeddingsClient",
    "Job",
    "JobTimeoutError",
    "ModelInfo",
    "Neighbour",
    "NotFoundError",
    "ProblemError",
    "ResultList",
    "ServerProblemError",
    "ServiceUnreachableError",
    "Translation",
    "ValidationProblemError",
    "Version",
    "Versions",
    "WordVector",
]
