"""The one list of services and the facts about each: name, environment prefix, default port and URL,
the path prefix it is mounted at under Ray Serve. ``python -m service``, the settings classes, the
command line, the Python clients, the container entrypoint and the settings generator
(``deploy/settings_sync.py``) read them here. A new service is its own package plus one entry here.

This module imports nothing heavy (no FastAPI, torch or gensim), so the container entrypoint can read
it before it sizes the thread pools.

>>> SERVICES["embeddings"].env_prefix, SERVICES["attention"].port, SERVICES["attention"].url
('EMBEDDINGS_', 8002, 'http://127.0.0.1:8002')
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ServiceSpec:
    """Where a service lives: its name, environment prefix, default port, app factory and settings."""

    name: str
    env_prefix: str
    port: int
    #: ``"module:function"``: the uvicorn factory (``create_app(settings=None) -> FastAPI``).
    app_factory: str
    #: ``"module:Class"``: the service's :class:`~service.kit.settings.ServiceSettings` subclass.
    settings: str

    @property
    def url(self) -> str:
        """Where the service answers by default: ``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def route_prefix(self) -> str:
        """The path it is mounted at beside the other services (Ray Serve): ``/<name>``."""
        return f"/{self.name}"

    def settings_class(self) -> Any:
        """Import and return the service's settings class."""
        return _import(self.settings)

    def create_app(self, settings: Any = None) -> Any:
        """Build the service's FastAPI app (``settings``: an instance of :meth:`settings_class`)."""
        return _import(self.app_factory)(settings)


def _import(target: str) -> Any:
    """The object named by ``"module:attribute"``."""
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


SERVICES: dict[str, ServiceSpec] = {
    spec.name: spec
    for spec in (
        ServiceSpec(
            "embeddings",
            "EMBEDDINGS_",
            8001,
            "service.embeddings.app:create_app",
            "service.embeddings.settings:Settings",
        ),
        ServiceSpec(
            "attention",
            "ATTENTION_",
            8002,
            "service.attention.app:create_app",
            "service.attention.settings:Settings",
        ),
    )
}
