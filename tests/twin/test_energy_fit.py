"""Fitting node power curves from metered power, through a real DuckDB file and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from twin.domain import Fleet
from twin.inventory import example_fleet
from twin.jobs.energy_fit import fit_node_curves
from twin.store.duckdb import DuckDBStore

CNETWIN_FIT = [sys.executable, "-m", "twin.cli", "energy", "fit"]
EXPONENT = 1.3
STEADY = "nm-ulanqab-cpu06"
"""A node written at one constant utilisation: nothing to fit."""


def write_telemetry(path: Path, fleet: Fleet, stop: datetime) -> None:
    """Two hours of 10 s node telemetry whose power follows a known curve per node."""
    rng = np.random.default_rng(7)
    times = pd.date_range(stop - timedelta(hours=2), stop, freq="10s", inclusive="left")
    frames = []
    minutes = (times - times[0]).total_seconds().to_numpy() / 60
    for node in fleet.nodes:
        phase = rng.uniform(0, 2 * np.pi)
        wave = 0.5 + 0.48 * np.sin(2 * np.pi * minutes / 60 + phase)  # slow, like real load
        u = np.full(len(times), 0.5) if node.id == STEADY else wave
        power = node.idle_power_w + (node.max_power_w - node.idle_power_w) * u**EXPONENT
        frames.append(
            pd.DataFrame(
                {
                    "ts": times,
                    "site": node.site,
                    "id": node.id,
                    "cpu_util": u,
                    "gpu_util": u if node.gpus else np.nan,
                    "power_w": power + rng.normal(0, 5, len(times)),
                }
            )
        )
    store = DuckDBStore(path)
    try:
        store.write_frame("node", pd.concat(frames, ignore_index=True), tags=["site", "id"])
    finally:
        store.close()


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, datetime]:
    stop = datetime.now(UTC).replace(microsecond=0)
    path = tmp_path_factory.mktemp("fit") / "fit.duckdb"
    write_telemetry(path, example_fleet(), stop)
    return path, stop


def test_fitted_curves_recover_the_metered_ones(filled: tuple[Path, datetime]) -> None:
    path, stop = filled
    fleet = example_fleet()
    store = DuckDBStore(path, read_only=True)
    try:
        fits = {f.node: f for f in fit_node_curves(store, fleet, stop - timedelta(hours=3), stop)}
    finally:
        store.close()
    assert set(fits) == {n.id for n in fleet.nodes}
    for node in fleet.nodes:
        fit = fits[node.id]
        if node.id == STEADY:
            assert fit.problem and np.isnan(fit.idle_w)
            continue
        span = node.max_power_w - node.idle_power_w
        assert fit.samples in (24, 25)  # 5-minute means over two hours
        assert fit.idle_w == pytest.approx(node.idle_power_w, abs=0.05 * span)
        assert fit.max_w == pytest.approx(node.max_power_w, abs=0.05 * span)
        assert fit.exponent == pytest.approx(EXPONENT, abs=0.15)
        assert fit.rmse_w < 0.02 * span


def test_cli_prints_the_fits_as_json(filled: tuple[Path, datetime]) -> None:
    path, _ = filled
    result = subprocess.run(
        [*CNETWIN_FIT, "--since", "3h", "--store", f"duckdb://{path}", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    nodes = {row["node"]: row for row in json.loads(result.stdout)["nodes"]}
    assert nodes[STEADY]["idle_w"] is None and "spanning" in nodes[STEADY]["problem"]
    train = nodes["nm-ulanqab-train01"]
    assert train["exponent"] == pytest.approx(EXPONENT, abs=0.15)
    assert train["inventory_max_w"] == 42_000.0


def test_cli_says_what_to_do_without_telemetry(tmp_path: Path) -> None:
    DuckDBStore(tmp_path / "empty.duckdb").close()
    result = subprocess.run(
        [*CNETWIN_FIT, "--store", f"duckdb://{tmp_path}/empty.duckdb"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "no node telemetry with power_w" in result.stderr
