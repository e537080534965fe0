"""Ray Serve: each service as one Serve application, built from the service's own app factory.

An application has two deployments over one model store (a data directory every node sees):

* ``query`` -- the HTTP ingress, ``num_replicas`` (or ``autoscaling_config``) replicas of the
  service's app in role ``query`` (:mod:`service.kit.roles`): they answer the queries with their
  own micro-batcher (the same :class:`~service.kit.batching.MicroBatcher` as under uvicorn, so the
  same batch-invariant answers) and hand every writer route to the writer through a
  :class:`~ray.serve.handle.DeploymentHandle`;
* ``writer`` -- one replica of the same app in role ``all``: it owns uploads and jobs (its job
  manager is the data directory's runner) and stores new versions, which every query replica
  serves from its next request on (no restart).

No route exists twice: both deployments run the app that ``python -m service`` runs. Serve runs
the ingress app's lifespan; the writer's is entered in its constructor and left in ``__del__``.

Deploy with the Serve config ``deploy/serve/serve.yaml`` (``serve run`` / ``serve deploy``; its
``import_path`` is :func:`app_builder`), or from Python::

    from ray import serve
    from service.kit.serve import application
    serve.run(application("embeddings", {"data_dir": "/shared/data"}), name="embeddings",
              route_prefix="/embeddings")

This module needs the ``ray`` extra (``pip install '.[ray]'``); nothing else imports it.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from ray import serve
from ray.serve import Application
from ray.serve.handle import DeploymentHandle
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.catalog import SERVICES
from service.kit.roles import ForwardedRequest, ForwardedResponse, LocalForwarder

#: Deployment options an operator usually changes (the Serve config's ``deployments:`` overrides
#: them: ``num_replicas``, ``autoscaling_config``, ``ray_actor_options``...).
QUERY_OPTIONS: dict[str, Any] = {
    "num_replicas": 2,
    # Concurrent requests one replica takes: enough for its micro-batcher to fill batches
    # (Serve's default, 5, would cap a batch at 5 rows per replica).
    "max_ongoing_requests": 128,
    "health_check_period_s": 2.0,
    "health_check_timeout_s": 30.0,
    "graceful_shutdown_timeout_s": 10.0,
    "ray_actor_options": {"num_cpus": 1},
}
WRITER_OPTIONS: dict[str, Any] = {
    "num_replicas": 1,  # one runner of jobs per data directory: keep it at 1
    "max_ongoing_requests": 64,
    "health_check_period_s": 5.0,
    "health_check_timeout_s": 30.0,
    "graceful_shutdown_timeout_s": 30.0,
    "ray_actor_options": {"num_cpus": 1},
}


def build_app(service: str, settings: dict[str, Any]) -> FastAPI:
    """The service's FastAPI app with ``settings`` over its environment settings (``<PREFIX>*``).

    >>> app = build_app("embeddings", {"role": "query", "data_dir": str(tmp_path)})
    >>> app.state.settings.role, app.title
    ('query', 'embattn embeddings')
    """
    spec = SERVICES[service]
    return spec.create_app(spec.settings_class()(**settings))


def _check(app: FastAPI) -> None:
    runtime = app.state.runtime
    if runtime.startup_error:
        raise RuntimeError(f"start-up failed: {runtime.startup_error}")


@serve.deployment(name="writer", **WRITER_OPTIONS)
class Writer:
    """The writer: the service's app in role ``all``, called by the query replicas' forwarders."""

    async def __init__(self, service: str, settings: dict[str, Any]) -> None:
        self.app = build_app(service, {**settings, "role": "all"})
        self._lifespan = self.app.router.lifespan_context(self.app)
        await self._lifespan.__aenter__()
        self._local = LocalForwarder(self.app)

    async def forward(self, request: ForwardedRequest) -> ForwardedResponse:
        """Answer one forwarded writer-route request with the writer's app."""
        return await self._local(request)

    def check_health(self) -> None:
        """Serve's health probe: fails when start-up loading failed or the job runner is gone."""
        _check(self.app)
        if not self.app.state.runtime.jobs.is_runner:
            raise RuntimeError("this writer does not hold the job runner's role")

    async def __del__(self) -> None:
        await self._lifespan.__aexit__(None, None, None)


@serve.deployment(name="query", **QUERY_OPTIONS)
@serve.ingress()
class Query:
    """A query replica (the HTTP ingress): the service's app in role ``query``."""

    def __init__(self, service: str, settings: dict[str, Any], writer: DeploymentHandle) -> None:
        self.writer = writer
        self.service_app = build_app(service, {**settings, "role": "query"})
        self.service_app.state.forward_write = self._forward
        #: This replica's Serve id, sent as ``X-Serve-Replica`` on every answer it gives.
        self.replica_id = serve.get_replica_context().replica_id.unique_id

    async def _forward(self, request: ForwardedRequest) -> ForwardedResponse:
        return await self.writer.forward.remote(request)

    def __serve_build_asgi_app__(self) -> ASGIApp:
        return ReplicaHeader(self.service_app, self.replica_id)

    def check_health(self) -> None:
        """Serve's health probe: fails when start-up loading failed."""
        _check(self.service_app)


class ReplicaHeader:
    """ASGI wrapper: add ``X-Serve-Replica: <id>`` to every HTTP answer (which replica answered)."""

    def __init__(self, app: ASGIApp, replica_id: str) -> None:
        self.app = app
        self.header = (b"x-serve-replica", replica_id.encode("latin-1"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def tagged(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), self.header]}
            await send(message)

        await self.app(scope, receive, tagged)


def application(service: str, settings: dict[str, Any] | None = None) -> Application:
    """The Serve application of ``service`` (``"embeddings"`` or ``"attention"``).

    ``settings`` are the service's settings by field name (``{"data_dir": "/data"}``), over its
    environment (``EMBEDDINGS_*`` / ``ATTENTION_*``, e.g. from the config's ``runtime_env``).
    """
    if service not in SERVICES:
        raise ValueError(f"unknown service {service!r}; expected one of {sorted(SERVICES)}")
    settings = dict(settings or {})
    return Query.bind(service, settings, Writer.bind(service, settings))


def app_builder(args: dict[str, Any]) -> Application:
    """The Serve config's ``import_path`` target: ``args`` is ``{"service": ..., "settings": {...}}``."""
    unknown = set(args) - {"service", "settings"}
    if unknown:
        raise ValueError(f"unknown application args {sorted(unknown)}; expected 'service' and 'settings'")
    return application(args["service"], args.get("settings"))
