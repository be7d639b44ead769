"""The chat widget's configuration and its static files.

A practice embeds the widget with one tag (``<script src="https://<service>/static/widget.js"
data-token="...">``). Before it draws anything the widget reads ``/v1/widget/config``: the practice's
name (its branding, unless the tag sets ``data-practice-name``) and the origins allowed to embed it. On
a page whose origin is not allowed the widget refuses to run; the browser refuses too, since CORS
answers only allowed origins (``api/protection.py``).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from api.deps import PlatformDep, SettingsDep

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

router = APIRouter(prefix="/v1/widget", tags=["widget"])


class WidgetConfig(BaseModel):
    practice_name: str
    practice_phone: str
    allowed_origins: list[str] = Field(
        description="origins whose pages may embed the widget (besides the service's own origin)"
    )


@router.get("/config", response_model=WidgetConfig)
async def widget_config(platform: PlatformDep, settings: SettingsDep, response: Response) -> WidgetConfig:
    """What the widget needs before it draws: the practice's branding and the origin allowlist."""
    practice = await platform.get_practice()
    response.headers["Cache-Control"] = "public, max-age=300"
    return WidgetConfig(
        practice_name=practice.name,
        practice_phone=practice.phone,
        allowed_origins=list(settings.allowed_origins),
    )


def static_files() -> StaticFiles:
    """``/static``: the widget, its stylesheet and the demo portal's stylesheet."""
    return StaticFiles(directory=STATIC_DIR)
