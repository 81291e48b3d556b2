"""Fixtures shared by the fault runs."""

from __future__ import annotations

import pytest

from collectors import pipeline as pipeline_module


@pytest.fixture
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retry a failed store write every half second at most, so recovery follows the end of the
    fault closely and a run stays short."""
    monkeypatch.setattr(pipeline_module, "RETRY_MAX_S", 0.5)
