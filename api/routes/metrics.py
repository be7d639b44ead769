"""``/metrics``: Prometheus text exposition of the runtime's metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST

from api.deps import ServicesDep

router = APIRouter(tags=["health"])


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format"}},
)
async def metrics(services: ServicesDep) -> Response:
    """Turns (by channel and outcome), turn latency, errors, fallbacks, hand-offs, open SSE clients."""
    return Response(services.metrics.render(), media_type=CONTENT_TYPE_LATEST)
