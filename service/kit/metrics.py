"""Prometheus metrics, served at ``/metrics``.

Request counts and latency by route template (``/v1/models/{name}/similar``, never the raw path,
so cardinality stays bounded), plus each service's own: jobs by status and models loaded.
All metrics carry a ``service`` label, so both services can be scraped into one dashboard.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response

HTTP_REQUESTS = Counter(
    "embattn_http_requests_total", "HTTP requests served.", ["service", "method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "embattn_http_request_duration_seconds",
    "Time to serve an HTTP request, by route template.",
    ["service", "method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
JOBS = Gauge("embattn_jobs", "Training jobs by status.", ["service", "status"])
JOBS_FINISHED = Counter("embattn_jobs_finished_total", "Jobs that ended, by outcome.", ["service", "status"])
MODELS_LOADED = Gauge("embattn_models_loaded", "Models loaded in memory.", ["service"])


async def metrics_endpoint(request: Request) -> Response:
    """The Prometheus text exposition of every metric in this process."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
