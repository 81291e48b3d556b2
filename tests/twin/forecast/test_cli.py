"""``cnetwin forecast …`` as a user runs it: real subprocesses on pvlib's TMY data and a real
DuckDB file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

from twin.domain import Reading
from twin.forecast.store import forecasts_as_of
from twin.store.duckdb import DuckDBStore

from .conftest import NOW


def cnetwin(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "twin.cli", "--log-level", "WARNING", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).resolve().parents[3],
    )


def test_the_wind_backtest_prints_metrics_as_json() -> None:
    done = cnetwin(
        "forecast", "backtest", "--target", "wind", "--data", "pvlib-tmy:723170TYA", "--json"
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["target"] == "wind"
    (series,) = report["series"]
    assert series["latitude"] == 36.1
    assert series["hours"] == series["issues"] * 24
    assert 300 < series["issues"] < 365  # a year less the warm-up
    models = series["models"]
    assert set(models) == {"power_curve_ar1", "persistence", "seasonal_naive"}
    for scores in models.values():
        assert scores["rmse"] >= scores["mae"] > 0
        assert 0.0 <= scores["coverage"] <= 1.0
        assert scores["nmae"] == scores["mae"] / 1000.0
    assert models["persistence"]["skill_vs_persistence"] == 0.0


def test_a_wrong_source_is_refused_with_advice() -> None:
    done = cnetwin("forecast", "backtest", "--target", "load", "--data", "pvlib-tmy:723170TYA")
    assert done.returncode == 2
    assert "store:<duckdb path>" in done.stderr
    missing = cnetwin("forecast", "backtest", "--target", "pv", "--data", "pvlib-tmy:999999XX")
    assert missing.returncode == 2
    assert "723170TYA" in missing.stderr


def test_issue_writes_forecasts_to_the_store(tmp_path: Path, meter_readings: list[Reading]) -> None:
    path = tmp_path / "issue.duckdb"
    store = DuckDBStore(path)
    store.write(meter_readings)
    store.close()
    at = pd.Timestamp(NOW).floor("h")
    done = cnetwin("forecast", "issue", "--store", f"duckdb://{path}", "--at", at.isoformat())
    assert done.returncode == 0, done.stderr
    assert "nm-ulanqab wind: 48 h from" in done.stdout
    store = DuckDBStore(path, read_only=True)
    try:
        got = forecasts_as_of(store, at, "nm-ulanqab", "pv")
    finally:
        store.close()
    assert len(got) == 48 and (got["issued_at"] == at).all()
