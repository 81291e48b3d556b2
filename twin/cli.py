"""``cnetwin`` command line: the one place that wires broker, collector, store, scheduler,
simulator and dashboard together.

Commands: ``demo`` (everything in one process), ``collect``, ``serve``, ``simulate``, ``stats``.
Run ``cnetwin <command> --help`` for each command's options.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from twin.commands import alerts as alerts_commands
from twin.commands import energy as energy_commands
from twin.commands import entropy as entropy_commands
from twin.commands import forecast as forecast_commands
from twin.commands import whatif as whatif_commands
from twin.config import BrokerURL, Settings, load_settings
from twin.errors import CnetwinError
from twin.model import Fleet

log = logging.getLogger("cnetwin")

DEFAULT_BACKFILL = "24h"
QUIET_LOGGERS = ("amqtt", "transitions", "werkzeug", "apscheduler", "urllib3")
"""Third-party loggers that are chatty at INFO; shown only at DEBUG."""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cnetwin`` console script; returns the process exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    _configure_logging(args.log_level)
    try:
        return int(args.run(args))
    except CnetwinError as exc:
        print(f"cnetwin {args.command}: {exc}", file=sys.stderr)
        return 2


# ---------------------------------------------------------------------------------------------
# argument parsing


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cnetwin",
        description=(
            "Digital twin and live dashboard for computing-network-energy infrastructure. "
            "Start with `cnetwin demo`, then open http://127.0.0.1:8050."
        ),
    )
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING (default INFO)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo",
        help="run broker, simulator, collector, scheduler and dashboard in one process",
        description=(
            "Zero-setup run: an embedded MQTT broker (unless --broker), a fleet simulator with a "
            "day of backfilled history, the collector into an embedded DuckDB store, the "
            "scheduler, and the dashboard on http://HOST:PORT. Stop with Ctrl-C, or give "
            "--duration to stop by itself; it prints a one-line summary and exits 0."
        ),
    )
    _common(demo)
    _fleet_options(demo)
    demo.add_argument("--broker", help="use this broker instead of the embedded one (mqtt://…)")
    demo.add_argument("--mqtt-port", type=int, default=1883, help="embedded broker port (1883)")
    demo.add_argument("--port", type=int, help="dashboard port (default 8050)")
    demo.add_argument("--host", help="dashboard bind address (default 127.0.0.1)")
    demo.add_argument("--data-dir", type=Path, help="where the embedded store lives")
    demo.add_argument("--store", help="store URL instead of the data-dir DuckDB file")
    demo.add_argument(
        "--backfill", default=DEFAULT_BACKFILL, help="history to publish first (24h; 0 for none)"
    )
    demo.add_argument("--duration", type=float, help="stop cleanly after this many seconds")
    demo.set_defaults(run=_run_demo)

    run = commands.add_parser(
        "run",
        help="run collector, scheduler and dashboard in one process (a single box)",
        description=(
            "A single box without InfluxDB or Docker: the collector subscribes to an external "
            "broker (--broker, required) and stores into the embedded DuckDB file under "
            "--data-dir, the scheduler writes derived series, and the dashboard serves "
            "http://HOST:PORT, all in this one process. SIGTERM/SIGINT (or --duration): stop, "
            "store what was received, print a summary, exit 0."
        ),
    )
    _common(run)
    run.add_argument("--broker", help="mqtt://[user:pass@]host:port or mqtts://… (required)")
    run.add_argument("--store", help="store URL (default: the embedded DuckDB file)")
    run.add_argument("--data-dir", type=Path, help="where the embedded store lives")
    run.add_argument("--client-id", help="stable MQTT client id (keeps the session)")
    run.add_argument("--fleet", type=Path, help="fleet file (default: the example fleet)")
    run.add_argument("--port", type=int, help="dashboard port (default 8050)")
    run.add_argument("--host", help="dashboard bind address (default 127.0.0.1)")
    run.add_argument("--duration", type=float, help="stop cleanly after this many seconds")
    run.set_defaults(run=_run_single_box)

    collect = commands.add_parser(
        "collect",
        help="subscribe to telemetry and store it",
        description=(
            "Subscribe to cne/v1/# and tele/+/SENSOR at QoS 1 and store every reading; refused "
            "payloads are dead-lettered with a reason. Acknowledges only what is stored. "
            "SIGTERM/SIGINT: stop, store what was received, exit 0."
        ),
    )
    _common(collect)
    collect.add_argument("--broker", help="mqtt://[user:pass@]host:port or mqtts://…")
    collect.add_argument(
        "--store", help="duckdb:///path.duckdb, influxdb://host:port?db= or ?org=&bucket="
    )
    collect.add_argument("--client-id", help="stable MQTT client id (keeps the session)")
    collect.add_argument(
        "--fleet",
        type=Path,
        help="fleet file: enables the unknown-asset check and maps Tasmota devices to meters",
    )
    collect.set_defaults(run=_run_collect)

    serve = commands.add_parser(
        "serve", help="serve the dashboard over a store", description="Serve the dashboard."
    )
    _common(serve)
    serve.add_argument("--store", help="store URL (default: the embedded DuckDB file)")
    serve.add_argument("--fleet", type=Path, help="fleet file (default: the example fleet)")
    serve.add_argument("--port", type=int, help="dashboard port (default 8050)")
    serve.add_argument("--host", help="bind address (default 127.0.0.1)")
    serve.set_defaults(run=_run_serve)

    simulate = commands.add_parser(
        "simulate",
        help="publish realistic fleet telemetry to a broker",
        description=(
            "Publish node, link, meter and grid telemetry for a fleet. --backfill publishes "
            "history before --start first. --speed K plays time K times faster from --start; "
            "it cannot run ahead of the present (collectors refuse readings from the future), "
            "so give --start in the past, e.g. --start=-6h --speed 60."
        ),
    )
    _common(simulate)
    _fleet_options(simulate)
    simulate.add_argument("--broker", help="mqtt://host:port (default: settings' broker)")
    simulate.add_argument("--speed", type=float, default=1.0, help="times real time (1)")
    simulate.add_argument("--start", help="simulated start: ISO time or offset like -6h (now)")
    simulate.add_argument("--backfill", default="0", help="history to publish first, e.g. 24h")
    simulate.add_argument("--interval", type=float, default=10.0, help="telemetry period [s]")
    simulate.add_argument("--duration", type=float, help="stop after this many wall seconds")
    simulate.add_argument("--scenario", help="perturb the telemetry from --start: entropy-drift")
    simulate.set_defaults(run=_run_simulate)

    schedule = commands.add_parser(
        "schedule",
        help="run the periodic jobs that write derived series",
        description=(
            "Run the scheduler: periodic jobs that read the store and write derived series "
            "back (fleet status now; entropy, energy and forecasts as they land). Run it in "
            "exactly one process."
        ),
    )
    _common(schedule)
    schedule.add_argument("--store", help="store URL (default: the embedded DuckDB file)")
    schedule.add_argument("--fleet", type=Path, help="fleet file (default: the example fleet)")
    schedule.set_defaults(run=_run_schedule)

    stats = commands.add_parser(
        "stats",
        help="print what a store holds as JSON",
        description=(
            "Print JSON: rows and time range per measurement, dead letters by reason, and the "
            "latest collector counters. A DuckDB file can be read only while no other process "
            "has it open."
        ),
    )
    _common(stats)
    stats.add_argument("--store", help="store URL (default: the embedded DuckDB file)")
    stats.set_defaults(run=_run_stats)
    alerts_commands.add_commands(commands)
    energy_commands.add_commands(commands)
    entropy_commands.add_commands(commands)
    forecast_commands.add_commands(commands)
    whatif_commands.add_commands(commands)
    return parser


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="TOML settings file (keys as in Settings)")


def _fleet_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--fleet", type=Path, help="fleet file (TOML/YAML); default: example")
    parser.add_argument("--nodes", type=int, help="generate a synthetic fleet of N nodes")
    parser.add_argument("--sites", type=int, help="… over S sites (default N/10)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (0)")


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    if level.upper() != "DEBUG":
        for name in QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)


def _settings(args: argparse.Namespace, **overrides: Any) -> Settings:
    return load_settings(args.config, **overrides)


def _fleet(args: argparse.Namespace, settings: Settings) -> Fleet:
    """The fleet: synthetic with --nodes, else --fleet or the settings' file, else the example."""
    from twin.inventory import example_fleet, read_fleet, synthetic_fleet

    if getattr(args, "nodes", None) is not None:
        if args.nodes <= 0:
            raise CnetwinError("--nodes must be a positive number of nodes")
        sites = args.sites or max(1, args.nodes // 10)
        return synthetic_fleet(args.nodes, sites, seed=args.seed)
    path = getattr(args, "fleet", None) or settings.fleet
    return read_fleet(path) if path else example_fleet()


def parse_duration(text: str) -> timedelta:
    """``24h``, ``90m``, ``3600s``, ``2d`` or ``0`` → timedelta; CnetwinError otherwise."""
    try:
        value = pd.Timedelta(text.strip() if text.strip() != "0" else "0s")
    except ValueError:
        raise CnetwinError(f"{text!r} is not a duration: write e.g. 24h, 90m or 3600s") from None
    if value < pd.Timedelta(0):
        raise CnetwinError(f"duration {text!r} must not be negative")
    return value.to_pytimedelta()


def parse_time(text: str | None, now: datetime) -> datetime:
    """An ISO 8601 time (UTC if no zone) or an offset from now such as ``-6h``."""
    if not text:
        return now
    if text.startswith(("-", "+")):
        sign = -1 if text[0] == "-" else 1
        return now + sign * parse_duration(text[1:])
    try:
        stamp = pd.Timestamp(text)
    except ValueError:
        raise CnetwinError(f"{text!r} is not a time: write 2026-01-31T12:00Z or -6h") from None
    return (
        stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    ).to_pydatetime()


# ---------------------------------------------------------------------------------------------
# commands


def _stop_on_signals(stop: threading.Event) -> None:
    def handler(signum: int, frame: object) -> None:
        log.info("received %s; stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def _run_collect(args: argparse.Namespace) -> int:
    from collectors.service import Collector
    from twin.inventory import read_fleet
    from twin.store import open_store

    settings = _settings(
        args, broker=args.broker, store=args.store, client_id=args.client_id, fleet=args.fleet
    )
    broker = settings.broker_url
    if broker.embedded:
        raise CnetwinError("collect needs a broker: pass --broker mqtt://host:port")
    fleet = read_fleet(settings.fleet) if settings.fleet else None
    if fleet is None:
        log.info("no --fleet given: readings from any asset are accepted")
    stop = threading.Event()
    _stop_on_signals(stop)
    store = open_store(settings)
    try:
        collector = Collector(settings, store, broker, fleet)
        collector.start()
        log.info("collecting from %s:%s into %s", broker.host, broker.port, settings.store_url)
        stop.wait()
        summary = collector.stop()
    finally:
        store.close()
    print(summary.line())
    return 0 if summary.unstored == 0 else 3


def _run_serve(args: argparse.Namespace) -> int:
    from twin.store import open_store

    settings = _settings(args, store=args.store, port=args.port, host=args.host)
    fleet = _fleet(args, settings)
    stop = threading.Event()
    _stop_on_signals(stop)
    store = open_store(settings)
    try:
        server = _start_dashboard(settings, store, fleet)
        stop.wait()
        server.shutdown()
    finally:
        store.close()
    return 0


def _run_schedule(args: argparse.Namespace) -> int:
    from twin.alerts.rules import load_rules
    from twin.jobs import start_scheduler
    from twin.store import open_store

    settings = _settings(args, store=args.store)
    fleet = _fleet(args, settings)
    stop = threading.Event()
    _stop_on_signals(stop)
    store = open_store(settings)
    try:
        scheduler = start_scheduler(store, fleet, alert_rules=load_rules(settings.alert_rules))
        log.info("scheduler running over %s", settings.store_url)
        stop.wait()
        scheduler.shutdown(wait=True)
    finally:
        store.close()
    return 0


def _run_stats(args: argparse.Namespace) -> int:
    from twin.stats import store_stats
    from twin.store import open_store

    settings = _settings(args, store=args.store)
    store = open_store(settings, read_only=True)
    try:
        print(json.dumps(store_stats(store), indent=2, default=str))
    finally:
        store.close()
    return 0


def _run_simulate(args: argparse.Namespace) -> int:
    from collectors.publish import SimulationRun

    settings = _settings(args, broker=args.broker)
    fleet = _fleet(args, settings)
    stop = threading.Event()
    _stop_on_signals(stop)
    broker, _ = _broker(settings, mqtt_port=1883, start_embedded=False)
    now = datetime.now(UTC)
    run = SimulationRun(
        fleet,
        broker,
        seed=args.seed,
        interval_s=args.interval,
        start=parse_time(args.start, now),
        backfill=parse_duration(args.backfill),
        speed=args.speed,
        protocol=settings.mqtt_protocol,
        scenario=args.scenario,
    )
    _stop_after(args.duration, stop)
    published = run.run(stop)
    print(f"published {published} messages")
    return 0


def _run_demo(args: argparse.Namespace) -> int:
    from collectors.publish import SimulationRun
    from collectors.service import Collector
    from twin.alerts.rules import load_rules
    from twin.jobs import start_scheduler
    from twin.store import open_store

    settings = _settings(
        args,
        broker=args.broker,
        store=args.store,
        data_dir=args.data_dir,
        port=args.port,
        host=args.host,
    )
    fleet = _fleet(args, settings)
    rules = load_rules(settings.alert_rules)
    backfill = parse_duration(args.backfill)
    stop = threading.Event()
    _stop_on_signals(stop)
    cleanup: list[Callable[[], object]] = []
    try:
        broker, embedded = _broker(settings, mqtt_port=args.mqtt_port, start_embedded=True)
        if embedded is not None:
            cleanup.append(embedded.stop)
        store = open_store(settings)
        cleanup.append(store.close)
        protocol = "3.1.1" if embedded is not None else settings.mqtt_protocol
        collector = Collector(settings, store, broker, fleet, protocol=protocol)
        collector.start()
        cleanup.append(collector.stop)
        schedulers: list[Any] = []  # started once the history is stored, so jobs see all of it
        cleanup.append(lambda: [scheduler.shutdown(wait=True) for scheduler in schedulers])
        simulation = SimulationRun(
            fleet,
            broker,
            seed=args.seed,
            start=datetime.now(UTC),
            backfill=backfill,
            protocol=protocol,
        )
        sim_thread = threading.Thread(
            target=simulation.run,
            args=(
                stop,
                collector.delivered,
                lambda: schedulers.append(start_scheduler(store, fleet, timedelta(0), rules)),
            ),
            name="cnetwin-sim",
        )
        sim_thread.start()
        cleanup.append(sim_thread.join)
        server = _start_dashboard(settings, store, fleet)
        cleanup.append(server.shutdown)
        print(
            f"cnetwin demo: dashboard on http://{settings.host}:{settings.port} · "
            f"{len(fleet.nodes)} nodes at {len(fleet.sites)} sites · store {settings.store_url}",
            flush=True,
        )
        _stop_after(args.duration, stop)
        stop.wait()
        sim_thread.join()
        _wait_for_collector(collector, simulation.publisher.published)
    finally:
        stop.set()
        for step in reversed(cleanup):
            step()
    summary = collector.summary()
    print(f"cnetwin demo: {summary.line()}")
    return 0 if summary.unstored == 0 else 3


def _run_single_box(args: argparse.Namespace) -> int:
    from collectors.service import Collector
    from twin.alerts.rules import load_rules
    from twin.jobs import start_scheduler
    from twin.store import open_store

    settings = _settings(
        args,
        broker=args.broker,
        store=args.store,
        data_dir=args.data_dir,
        client_id=args.client_id,
        fleet=args.fleet,
        port=args.port,
        host=args.host,
    )
    broker = settings.broker_url
    if broker.embedded:
        raise CnetwinError("run needs a broker: pass --broker mqtt://host:port (or use demo)")
    fleet = _fleet(args, settings)
    rules = load_rules(settings.alert_rules)
    stop = threading.Event()
    _stop_on_signals(stop)
    cleanup: list[Callable[[], object]] = []
    try:
        store = open_store(settings)
        cleanup.append(store.close)
        collector = Collector(settings, store, broker, fleet if settings.fleet else None)
        collector.start()
        cleanup.append(collector.stop)
        scheduler = start_scheduler(store, fleet, alert_rules=rules)
        cleanup.append(lambda: scheduler.shutdown(wait=True))
        server = _start_dashboard(settings, store, fleet)
        cleanup.append(server.shutdown)
        print(
            f"cnetwin run: dashboard on http://{settings.host}:{settings.port} · collecting "
            f"from {broker.host}:{broker.port} · store {settings.store_url}",
            flush=True,
        )
        _stop_after(args.duration, stop)
        stop.wait()
    finally:
        for step in reversed(cleanup):
            step()
    summary = collector.summary()
    print(f"cnetwin run: {summary.line()}")
    return 0 if summary.unstored == 0 else 3


def _wait_for_collector(collector: Any, published: int, timeout_s: float = 60.0) -> None:
    """Give the collector time to receive what the simulator published before stopping it."""
    deadline = time.monotonic() + timeout_s
    counters = collector.pipeline.counters
    while counters.received < published and time.monotonic() < deadline:
        time.sleep(0.1)


def _stop_after(seconds: float | None, stop: threading.Event) -> None:
    if seconds is not None:
        timer = threading.Timer(seconds, stop.set)
        timer.daemon = True
        timer.start()


def _broker(settings: Settings, mqtt_port: int, start_embedded: bool) -> tuple[BrokerURL, Any]:
    """The broker to use, starting the embedded one when the settings say ``embedded``."""
    url = settings.broker_url
    if not url.embedded:
        return url, None
    if not start_embedded:
        return BrokerURL(embedded=False, host="127.0.0.1", port=mqtt_port), None
    from collectors.broker import EmbeddedBroker

    broker = EmbeddedBroker(port=mqtt_port)
    broker.start()
    return broker.url, broker


def _start_dashboard(settings: Settings, store: Any, fleet: Fleet) -> Any:
    """Serve the dashboard in a background thread; returns the server (``.shutdown()``)."""
    from werkzeug.serving import make_server

    from dashboard.app import Services, create_app

    app = create_app(settings, Services(store=store, fleet=fleet))
    try:
        server = make_server(settings.host, settings.port, app.server, threaded=True)
    except OSError as exc:
        raise CnetwinError(
            f"cannot serve on {settings.host}:{settings.port} ({exc.strerror}): pass --port"
        ) from None
    threading.Thread(target=server.serve_forever, name="cnetwin-web", daemon=True).start()
    return server


if __name__ == "__main__":
    sys.exit(main())
