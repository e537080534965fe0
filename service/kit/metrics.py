"""Prometheus metrics, served at ``/metrics``.

Request counts and latency by route template (``/v1/models/{name}/similar``, never the raw path,
so cardinality stays bounded), plus each service's own: jobs by status and models loaded.
All metrics carry a ``service`` label, so both services can be scraped into one dashboard.

``/metrics`` answers the Prometheus text format 0.0.4 (``text/plain; version=0.0.4``), which every
Prometheus version scrapes; declare it with ``response_class=PrometheusResponse`` and
``responses=METRICS_RESPONSES`` so the OpenAPI document says text, not JSON.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter, Gauge, Histogram, generate_latest
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
BATCH_ROWS = Histogram(
    "embattn_batch_rows",
    "Rows (queries, inputs) per micro-batch run, by batcher.",
    ["service", "batcher"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
)
BATCH_DROPPED = Counter(
    "embattn_batch_dropped_total",
    "Queued items dropped from a micro-batch because their client left.",
    ["service", "batcher"],
)


#: The Prometheus text exposition format that :func:`generate_latest` writes.
PROMETHEUS_MEDIA_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class PrometheusResponse(Response):
    """A Prometheus text exposition (format 0.0.4)."""

    media_type = PROMETHEUS_MEDIA_TYPE


#: OpenAPI ``responses`` of the ``/metrics`` route (with ``response_class=PrometheusResponse``).
METRICS_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Every metric of this process, in the Prometheus text format 0.0.4",
        "content": {
            PROMETHEUS_MEDIA_TYPE: {
                "schema": {"type": "string"},
                "example": "# HELP embattn_models_loaded Models loaded in memory.\n"
                "# TYPE embattn_models_loaded gauge\n"
                'embattn_models_loaded{service="embeddings"} 1.0\n',
            }
        },
    }
}


async def metrics_endpoint(request: Request) -> PrometheusResponse:
    """The Prometheus text exposition (format 0.0.4) of every metric in this process."""
    return PrometheusResponse(generate_latest())
