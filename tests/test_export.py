"""``cnetwin export``, ``--json`` on the alert commands and ``--version``, through the real CLI
entry point over a real DuckDB file."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path

import pandas as pd
import pytest

from twin.cli import main
from twin.store.duckdb import DuckDBStore


@pytest.fixture
def now() -> datetime:
    """The newest row's time: the test's start (the alert rules judge rows against now)."""
    return datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def store_file(tmp_path: Path, now: datetime) -> Path:
    path = tmp_path / "twin.duckdb"
    store = DuckDBStore(path)
    rows = [
        {"ts": pd.Timestamp(now - timedelta(minutes=m)), "site": site, "id": f"{site}-l1",
         "loss_pct": 0.5 + m, "latency_ms": 10.0}
        for m in range(6) for site in ("s1", "s2")
    ]  # fmt: skip
    store.write_frame("link", pd.DataFrame(rows), tags=["site", "id"])
    store.close()
    return path


def test_export_to_csv_and_parquet_with_filters(
    tmp_path: Path, store_file: Path, now: datetime, capsys: pytest.CaptureFixture[str]
) -> None:
    url = ["--store", f"duckdb://{store_file}"]
    out = tmp_path / "loss.csv"
    assert main(["export", "link", "--since", "1h", "--tag", "site=s1", "--field", "loss_pct",
                 "-o", str(out), *url]) == 0  # fmt: skip
    csv = pd.read_csv(out)
    assert csv.columns[0] == "ts" and set(csv.columns) == {"ts", "site", "id", "loss_pct"}
    assert len(csv) == 6 and set(csv["site"]) == {"s1"}
    assert sorted(csv["loss_pct"]) == [0.5 + m for m in range(6)]
    assert pd.Timestamp(csv["ts"].iloc[-1]) == pd.Timestamp(now)
    parquet = tmp_path / "all.parquet"
    assert main(["export", "link", "--start=-1h", "-o", str(parquet), *url]) == 0
    frame = pd.read_parquet(parquet)
    assert len(frame) == 12 and {"loss_pct", "latency_ms"} <= set(frame.columns)
    capsys.readouterr()
    assert main(["export", "link", "--since", "1h", "--every", "1h", *url]) == 0
    means = pd.read_csv(StringIO(capsys.readouterr().out))
    assert set(means["site"]) == {"s1", "s2"}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--tag", "site"], "KEY=VALUE"),
        (["-o", "x.xlsx"], ".csv or .parquet"),
        (["--format", "parquet"], "Parquet needs a file"),
    ],
)
def test_export_explains_bad_options(
    store_file: Path, extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["export", "link", "--store", f"duckdb://{store_file}", *extra]) == 2
    assert message in capsys.readouterr().err


def test_alert_commands_print_json(
    tmp_path: Path, store_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "notify: {log: false}\n"
        "rule:\n  - {name: link_loss, metric: link.loss_pct, above: 0.1, lookback: 5m}\n"
    )
    url = ["--store", f"duckdb://{store_file}", "--rules", str(rules)]
    capsys.readouterr()
    assert main(["alerts", "check", "--json", *url]) == 0
    check = json.loads(capsys.readouterr().out)
    assert {t["series"] for t in check["transitions"]} == {"id=s1-l1,site=s1", "id=s2-l1,site=s2"}
    assert check["failures"] == [] and check["notifications"] == 1
    assert main(["alerts", "list", "--json", *url]) == 0
    (rule,) = json.loads(capsys.readouterr().out)
    assert rule["rule"] == "link_loss" and len(rule["alerting"]) == 2
    assert {a["state"] for a in rule["alerting"]} == {"firing"}
    assert main(["alerts", "silences", "--json", "--store", f"duckdb://{store_file}"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip().startswith("cnetwin 0.")
