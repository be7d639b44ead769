"""Where the vendor artifacts for protocol tests live: ``../shared/vendor`` next to the repository.

They are data published by Stripe and Twilio (see that folder's README), not part of our tree. A test
that needs one skips, with the path it looked at, when it is absent.
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]


def vendor_dir() -> Path:
    """``$BILLING_VENDOR_DIR`` if set, else ``<repo>/../shared/vendor``."""
    override = os.environ.get("BILLING_VENDOR_DIR")
    return Path(override) if override else REPO_ROOT.parent / "shared" / "vendor"


class VendorFileMissing(LookupError):
    """A vendor artifact is not on this machine; tests that need it skip with this message."""


def vendor_file(*parts: str) -> Path:
    path = vendor_dir().joinpath(*parts)
    if not path.is_file():
        raise VendorFileMissing(f"vendor artifact {path} is absent (see ../shared/vendor/README.md)")
    return path


@cache
def load_vendor_json(*parts: str) -> Any:
    """Parsed JSON of a vendor file, loaded once per process. Callers must not mutate it."""
    return json.loads(vendor_file(*parts).read_text(encoding="utf-8"))
