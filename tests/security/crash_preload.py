"""Imported once by the crash sweep's fork server (``crash_server.start``): what every start of the
service would load the same way, its modules and the shipped understander, loaded before the fork."""

from __future__ import annotations

import api.main  # noqa: F401  # the service's modules, imported once
from agent.understanding.local import LocalUnderstander

LocalUnderstander.default()
