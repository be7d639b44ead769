"""The FHIR server the FHIR adapter's tests run against (one per session, wiped per test)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tools.platforms.fhir.sekmet import SekmetServer, SekmetUnavailable, run_sekmet


@pytest.fixture(scope="session")
def sekmet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SekmetServer]:
    try:
        with run_sekmet(tmp_path_factory.mktemp("sekmet")) as server:
            yield server
    except SekmetUnavailable as exc:
        pytest.skip(str(exc))
