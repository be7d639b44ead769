"""``/metrics``: Prometheus text exposition of the runtime's metrics.

With ``BILLING_METRICS_TOKEN`` set, a scrape must send ``Authorization: Bearer <token>`` (401 otherwise).
Without it the endpoint is open outside production and answers 404 in production: turn counts and
latencies are not for the public."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Header, Response
from prometheus_client import CONTENT_TYPE_LATEST

from api.deps import ServicesDep
from api.errors import error_responses
from tools.errors import NotAuthenticated, NotFound

router = APIRouter(tags=["health"])


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format"},
        **error_responses(401, 404),
    },
)
async def metrics(
    services: ServicesDep,
    authorization: Annotated[
        str | None, Header(description="`Bearer <metrics token>` when one is set")
    ] = None,
) -> Response:
    """Turns (by channel and outcome), turn latency, errors, fallbacks, hand-offs, open SSE clients."""
    settings = services.settings
    token = settings.metrics_token.get_secret_value() if settings.metrics_token else ""
    if token:
        scheme, _, sent = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(sent.strip().encode(), token.encode()):
            raise NotAuthenticated("the metrics need Authorization: Bearer <BILLING_METRICS_TOKEN>")
    elif settings.environment == "production":
        raise NotFound("not found")
    return Response(services.metrics.render(), media_type=CONTENT_TYPE_LATEST)
