"""Meter readings of the example fleet from the fleet simulator, through the parser."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from collectors.simulate import FleetSimulator
from twin.domain import Reading
from twin.inventory import example_fleet

START = datetime(2024, 6, 18, tzinfo=UTC)
NOW = START + timedelta(days=3, minutes=20)
"""Three days and twenty minutes of meter history end here."""


@pytest.fixture(scope="session")
def meter_readings() -> list[Reading]:
    fleet = example_fleet()
    sim = FleetSimulator(fleet, seed=2, interval_s=600.0, start=START)
    return sim.backfill_readings(START, NOW, topics=lambda topic: "/meter/" in topic)
