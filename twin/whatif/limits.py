"""How much one what-if run may simulate: sweep points, requests per point and in all.

A run's time and memory grow with the requests it simulates (10–40 k requests per CPU second,
docs/benchmarks.md), so every entry point — ``cnetwin whatif`` options, scenario files, the
What-if page — is held to the same bounds, and a run beyond one is refused before it starts
with a :class:`~twin.errors.ConfigError` naming the limit and the option or setting to change.
"""

from __future__ import annotations

from twin.errors import ConfigError

MAX_SWEEP_POINTS = 1_000
"""Offered rates or concurrency levels one run may sweep at most [points]."""
MAX_REQUESTS = 100_000
"""Requests one sweep point (a rate, or an LLM round) may simulate at most (memory grows with
them) [requests]."""
MAX_TOTAL_REQUESTS = 5_000_000
"""Requests one run may simulate at most over every policy and point (a few minutes) [requests]."""
MAX_SCENARIO_BYTES = 1_000_000
"""Largest scenario file read [bytes]."""
MAX_INSTANCES = 1_000
MAX_USERS = 1_000
"""Instances and users a scenario file may list at most."""
MAX_CONNECTIONS = 1_000
"""Long-lived connections per user a scenario file may ask for at most."""


def check_sweep_points(count: int, setting: str) -> None:
    """ConfigError if ``count`` sweep points exceed :data:`MAX_SWEEP_POINTS`; ``setting`` names
    the option that chose them."""
    if count > MAX_SWEEP_POINTS:
        raise ConfigError(
            f"{setting} gives {count:,} sweep points; a run sweeps at most {MAX_SWEEP_POINTS:,} "
            "(MAX_SWEEP_POINTS): use a larger step or a narrower range"
        )


def check_point_requests(requests: float, what: str, change: str) -> None:
    """ConfigError if one sweep point would simulate more than :data:`MAX_REQUESTS` requests;
    ``what`` says how the count arises, ``change`` which options or settings lower it."""
    if requests > MAX_REQUESTS:
        raise ConfigError(
            f"{what} simulate {requests:,.0f} requests in one sweep point; at most "
            f"{MAX_REQUESTS:,} (MAX_REQUESTS): lower {change}"
        )


def check_total_requests(requests: float, what: str, change: str) -> None:
    """ConfigError if a run would simulate more than :data:`MAX_TOTAL_REQUESTS` requests in
    all; ``what`` says how the count arises, ``change`` which options or settings lower it."""
    if requests > MAX_TOTAL_REQUESTS:
        raise ConfigError(
            f"{what} simulate {requests:,.0f} requests in all; a run simulates at most "
            f"{MAX_TOTAL_REQUESTS:,} (MAX_TOTAL_REQUESTS): lower {change}"
        )
