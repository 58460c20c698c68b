"""Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST

from driftscope.apps.api.deps import READ, MetricsDep

router = APIRouter(tags=["metrics"])


@router.get(
    "/metrics",
    dependencies=[READ],
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text."}},
    summary="Prometheus metrics",
)
async def metrics(registry: MetricsDep) -> Response:
    """Counters, latency histogram, log queue and drift gauges in Prometheus text format."""
    return Response(registry.render(), media_type=CONTENT_TYPE_LATEST)
