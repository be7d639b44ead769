"""The FHIR R4 adapter of the ``BillingPlatform`` port (see docs/platforms.md)."""

from tools.platforms.fhir.auth import SmartBackendCredentials
from tools.platforms.fhir.platform import FhirPlatform

__all__ = ["FhirPlatform", "SmartBackendCredentials"]
