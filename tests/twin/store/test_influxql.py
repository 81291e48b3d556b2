"""InfluxQL statement builders (pure): literals, bounds, and values kept inside their literals.
What the statements answer is checked against a real InfluxDB by the contract suite."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pandas as pd
import pytest

from twin.errors import StoreError
from twin.store.influxql import (
    duration_literal,
    select_latest,
    select_rows,
    select_windows,
    string_literal,
    time_literal,
)

T0 = datetime(2024, 3, 1, tzinfo=UTC)
SEC = timedelta(seconds=1)


def test_string_literal_escapes_what_could_end_or_bend_it() -> None:
    assert string_literal("it's") == "'it\\'s'"
    assert string_literal("back\\slash") == "'back\\\\slash'"
    assert string_literal("two\nlines") == "'two\\nlines'"
    assert string_literal('say "hi"') == "'say \"hi\"'"


def test_time_and_duration_literals() -> None:
    assert time_literal(T0) == "'2024-03-01T00:00:00.000000000Z'"
    eight = timezone(timedelta(hours=8))
    assert time_literal(datetime(2024, 3, 1, 8, 0, 0, 5, tzinfo=eight)) == (
        "'2024-03-01T00:00:00.000005000Z'"
    )
    assert time_literal(datetime(2024, 3, 1)) == "'2024-03-01T00:00:00.000000000Z'"  # naive: UTC
    assert time_literal(pd.Timestamp("2024-03-01T00:00:00.000000001Z")).endswith(".000000001Z'")
    assert duration_literal("1h") == "3600000000u"
    assert duration_literal(timedelta(microseconds=3)) == "3u"
    with pytest.raises(StoreError):
        duration_literal("0s")


def test_rows_filter_by_time_tags_and_fields() -> None:
    statement = select_rows(
        "node", T0, T0 + timedelta(hours=1), {"site": ["s1"], "id": ["n1", "n2"]}, ["cpu_util"]
    )
    assert statement == (
        'SELECT "cpu_util" FROM "node" WHERE time >= \'2024-03-01T00:00:00.000000000Z\' AND '
        "time < '2024-03-01T01:00:00.000000000Z' AND (\"site\" = 's1') AND "
        "(\"id\" = 'n1' OR \"id\" = 'n2') GROUP BY *"
    )
    assert select_rows("node", T0, T0 + SEC, {}, None).startswith('SELECT * FROM "node" WHERE')


def test_windows_average_numbers_and_keep_the_last_text() -> None:
    kinds = {"cpu_util": "float", "tasks": "integer", "state": "string"}
    statement = select_windows("node", T0, T0 + timedelta(days=1), {}, kinds, "15min")
    assert 'mean("cpu_util") AS "cpu_util"' in statement
    assert 'mean("tasks") AS "tasks"' in statement
    assert 'last("state") AS "state"' in statement
    assert statement.endswith("GROUP BY time(900000000u), * fill(none)")


def test_hostile_values_stay_inside_their_literal() -> None:
    hostile = "n1' OR '1'='1"
    statement = select_rows("node", T0, T0 + SEC, {"id": [hostile]}, None)
    assert "(\"id\" = 'n1\\' OR \\'1\\'=\\'1')" in statement
    assert statement.count("'") - statement.count("\\'") == 6  # three literals, all closed


def test_latest_is_at_inclusive_and_within_exclusive() -> None:
    statement = select_latest("node", T0, {}, ["cpu_util"], within=timedelta(minutes=5))
    assert "time >= '2024-02-29T23:55:00.000000001Z'" in statement
    assert "time <= '2024-03-01T00:00:00.000000000Z'" in statement
    assert statement.endswith("GROUP BY * ORDER BY time DESC LIMIT 1")
    assert "time >=" not in select_latest("node", T0, {}, None)
