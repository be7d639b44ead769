"""The DrChrono adapter of the ``BillingPlatform`` port (see docs/platforms.md)."""

from tools.platforms.drchrono.auth import DrChronoOAuth, EncryptedTokenFile
from tools.platforms.drchrono.platform import DrChronoPlatform

__all__ = ["DrChronoOAuth", "DrChronoPlatform", "EncryptedTokenFile"]
