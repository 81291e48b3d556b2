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
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any

from twin.commands import alerts as alerts_commands
from twin.commands import energy as energy_commands
from twin.commands import entropy as entropy_commands
from twin.commands import export as export_commands
from twin.commands import forecast as forecast_commands
from twin.commands import users as users_commands
from twin.commands import whatif as whatif_commands
from twin.config import BrokerURL, Settings, load_settings
from twin.domain import Fleet
from twin.durations import OFFSET, parse_duration, parse_time
from twin.errors import CnetwinError
from twin.health import Check, broker_check, start_ops_server, store_check

log = logging.getLogger("cnetwin")

DEFAULT_BACKFILL = "49h"
"""The demo's history: two days and the hour under way, so every forecaster (the load model
needs 48 whole hours, ``twin.forecast.models.LOAD_HISTORY_H``) issues at start."""
QUIET_LOGGERS = ("amqtt", "transitions", "werkzeug", "apscheduler", "urllib3")
"""Third-party loggers that are chatty at INFO; shown only at DEBUG."""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cnetwin`` console script; returns the process exit code."""
    parser = _parser()
    args = parser.parse_args(_join_offsets(sys.argv[1:] if argv is None else argv))
    _configure_logging(args.log_level)
    try:
        return int(args.run(args))
    except CnetwinError as exc:
        print(f"cnetwin {args.command}: {exc}", file=sys.stderr)
        return 2


# ---------------------------------------------------------------------------------------------
# argument parsing


def _join_offsets(argv: Sequence[str]) -> list[str]:
    """argparse takes the ``-6h`` of ``--at -6h`` for an option: join such pairs (``--at=-6h``)."""
    joined: list[str] = []
    for token in argv:
        if joined and OFFSET.match(token) and joined[-1].startswith("--") and "=" not in joined[-1]:
            joined[-1] = f"{joined[-1]}={token}"
        else:
            joined.append(token)
    return joined


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cnetwin",
        description=(
            "Digital twin and live dashboard for computing-network-energy infrastructure. "
            "Start with `cnetwin demo`, then open http://127.0.0.1:8050."
        ),
    )
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING (default INFO)")
    parser.add_argument("--version", action="version", version=f"cnetwin {version('cnetwin')}")
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
        "--backfill",
        default=DEFAULT_BACKFILL,
        help=f"history to publish first ({DEFAULT_BACKFILL}: enough for every forecast; 0: none)",
    )
    demo.add_argument("--duration", help="stop cleanly after this long: 120 (seconds), 2m, 1h")
    _metrics_option(demo)
    _web_options(demo)
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
    run.add_argument("--duration", help="stop cleanly after this long: 120 (seconds), 2m, 1h")
    _metrics_option(run)
    _web_options(run)
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
    _metrics_option(collect)
    collect.set_defaults(run=_run_collect)

    serve = commands.add_parser(
        "serve", help="serve the dashboard over a store", description="Serve the dashboard."
    )
    _common(serve)
    serve.add_argument("--store", help="store URL (default: the embedded DuckDB file)")
    serve.add_argument("--fleet", type=Path, help="fleet file (default: the example fleet)")
    serve.add_argument("--port", type=int, help="dashboard port (default 8050)")
    serve.add_argument("--host", help="bind address (default 127.0.0.1)")
    _web_options(serve)
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
    simulate.add_argument("--duration", help="stop after this long in wall time: 120, 2m, 1h")
    simulate.add_argument("--scenario", help="perturb the telemetry from --start: entropy-drift")
    simulate.add_argument(
        "--store",
        help="record the history's loading progress in this store (the collector's), so "
        "dashboards show it and alert rules hold while it loads; InfluxDB, or a DuckDB file "
        "no other process has open",
    )
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
    _metrics_option(schedule)
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
    export_commands.add_commands(commands)
    forecast_commands.add_commands(commands)
    whatif_commands.add_commands(commands)
    users_commands.add_commands(commands)
    return parser


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="TOML settings file (keys as in Settings)")


def _metrics_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--metrics-port",
        type=int,
        help="serve Prometheus /metrics, /healthz and /readyz on this port (bound to --host "
        "or the host setting, 127.0.0.1 by default)",
    )


def _start_ops(settings: Settings, *checks: Check) -> Callable[[], object]:
    """Serve metrics and health on the metrics port if one is set; returns how to stop it."""
    server = start_ops_server(settings.metrics_port, settings.host, checks)
    return server.shutdown if server is not None else lambda: None


def _web_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--users-file", type=Path, help="sign-in with these users (`cnetwin users add`)"
    )
    parser.add_argument(
        "--allow-anonymous",
        action="store_true",
        default=None,
        help="serve beyond loopback with no sign-in: anyone who reaches it may act",
    )


def _web_settings(args: argparse.Namespace) -> dict[str, Any]:
    return {"users_file": args.users_file, "allow_anonymous": args.allow_anonymous}


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
        args,
        broker=args.broker,
        store=args.store,
        client_id=args.client_id,
        fleet=args.fleet,
        metrics_port=args.metrics_port,
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
        stop_ops = _start_ops(
            settings, store_check(store), broker_check(lambda: collector.subscriber.connected)
        )
        collector.start()
        log.info("collecting from %s:%s into %s", broker.host, broker.port, settings.store_url)
        stop.wait()
        summary = collector.stop()
        stop_ops()
    finally:
        store.close()
    print(summary.line())
    return 0 if summary.unstored == 0 else 3


def _run_serve(args: argparse.Namespace) -> int:
    from dashboard.auth import refuse_open_exposure
    from twin.store import open_store

    settings = _settings(
        args, store=args.store, port=args.port, host=args.host, **_web_settings(args)
    )
    refuse_open_exposure(settings)
    fleet = _fleet(args, settings)
    _require_existing_store(settings)
    _check_port_free(settings.host, settings.port, "pass --port")
    stop = threading.Event()
    _stop_on_signals(stop)
    store = open_store(settings)
    try:
        server = _start_dashboard(settings, store, fleet)
        stop.wait()
        server.close()
    finally:
        store.close()
    return 0


def _run_schedule(args: argparse.Namespace) -> int:
    from twin.alerts.rules import load_alert_rules
    from twin.jobs.scheduler import start_scheduler
    from twin.store import open_store

    settings = _settings(args, store=args.store, metrics_port=args.metrics_port)
    fleet = _fleet(args, settings)
    stop = threading.Event()
    _stop_on_signals(stop)
    store = open_store(settings)
    try:
        stop_ops = _start_ops(settings, store_check(store))
        scheduler = start_scheduler(store, fleet, alert_rules=load_alert_rules(settings))
        log.info("scheduler running over %s", settings.store_url)
        stop.wait()
        scheduler.shutdown(wait=True)
        stop_ops()
    finally:
        store.close()
    return 0


def _run_stats(args: argparse.Namespace) -> int:
    from twin.store import open_store
    from twin.views.stats import store_stats

    settings = _settings(args, store=args.store)
    _require_existing_store(settings)
    store = open_store(settings, read_only=True)
    try:
        print(json.dumps(store_stats(store), indent=2, default=str))
    finally:
        store.close()
    return 0


def _run_simulate(args: argparse.Namespace) -> int:
    from twin.store import open_store

    settings = _settings(args, broker=args.broker, store=args.store)
    fleet = _fleet(args, settings)
    duration = _optional_duration(args.duration)
    stop = threading.Event()
    _stop_on_signals(stop)
    broker, _ = _broker(settings, mqtt_port=1883, start_embedded=False)
    now = datetime.now(UTC)
    store = open_store(settings) if args.store else None
    try:
        published = _simulate(args, fleet, broker, settings, now, store, stop, duration)
    finally:
        if store is not None:
            store.close()
    print(f"published {published} messages")
    return 0


def _simulate(
    args: argparse.Namespace,
    fleet: Fleet,
    broker: BrokerURL,
    settings: Settings,
    now: datetime,
    store: Any,
    stop: threading.Event,
    duration: timedelta | None,
) -> int:
    """Publish as ``cnetwin simulate`` asks until ``stop``; returns the messages published."""
    from collectors.publish import SimulationRun
    from twin.jobs.loading import history_load_recorder

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
        on_progress=history_load_recorder(store) if store is not None else None,
    )
    _stop_after(duration, stop)
    return run.run(stop)


def _run_demo(args: argparse.Namespace) -> int:
    from collectors.publish import SimulationRun
    from collectors.service import Collector
    from twin.alerts.rules import load_alert_rules
    from twin.jobs.loading import history_load_recorder
    from twin.jobs.scheduler import start_scheduler
    from twin.store import open_store

    settings = _web_process_settings(args)  # before the broker and the simulator start
    fleet = _fleet(args, settings)
    rules = load_alert_rules(settings)
    backfill = parse_duration(args.backfill)
    duration = _optional_duration(args.duration)
    if settings.broker_url.embedded:
        from collectors.broker import DEMO_ONLY

        print(f"cnetwin demo: warning: {DEMO_ONLY}", file=sys.stderr, flush=True)
        _check_port_free("127.0.0.1", args.mqtt_port, "pass --mqtt-port, or --broker for another")
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
            on_progress=history_load_recorder(store),
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
        connected = broker_check(lambda: collector.subscriber.connected)
        server = _start_dashboard(settings, store, fleet, connected)
        cleanup.append(server.close)
        cleanup.append(_start_ops(settings, store_check(store), connected))
        print(
            f"cnetwin demo: dashboard on http://{settings.host}:{settings.port} · "
            f"{len(fleet.nodes)} nodes at {len(fleet.sites)} sites · store {settings.store_url}",
            flush=True,
        )
        _stop_after(duration, stop)
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
    from twin.alerts.rules import load_alert_rules
    from twin.jobs.scheduler import start_scheduler
    from twin.store import open_store

    settings = _web_process_settings(args, client_id=args.client_id, fleet=args.fleet)
    broker = settings.broker_url
    if broker.embedded:
        raise CnetwinError("run needs a broker: pass --broker mqtt://host:port (or use demo)")
    fleet = _fleet(args, settings)
    rules = load_alert_rules(settings)
    duration = _optional_duration(args.duration)
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
        connected = broker_check(lambda: collector.subscriber.connected)
        server = _start_dashboard(settings, store, fleet, connected)
        cleanup.append(server.close)
        cleanup.append(_start_ops(settings, store_check(store), connected))
        print(
            f"cnetwin run: dashboard on http://{settings.host}:{settings.port} · collecting "
            f"from {broker.host}:{broker.port} · store {settings.store_url}",
            flush=True,
        )
        _stop_after(duration, stop)
        stop.wait()
    finally:
        for step in reversed(cleanup):
            step()
    summary = collector.summary()
    print(f"cnetwin run: {summary.line()}")
    return 0 if summary.unstored == 0 else 3


def _web_process_settings(args: argparse.Namespace, **overrides: Any) -> Settings:
    """Settings of a process that collects and serves the dashboard (``demo``, ``run``),
    refused at once when the dashboard would be open to all or its port is taken."""
    from dashboard.auth import refuse_open_exposure

    settings = _settings(
        args,
        broker=args.broker,
        store=args.store,
        data_dir=args.data_dir,
        port=args.port,
        host=args.host,
        metrics_port=args.metrics_port,
        **_web_settings(args),
        **overrides,
    )
    refuse_open_exposure(settings)
    _check_port_free(settings.host, settings.port, "pass --port")
    return settings


def _check_port_free(host: str, port: int, advice: str) -> None:
    """Fail before anything starts when ``host:port`` cannot be listened on."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise CnetwinError(f"cannot listen on {host}:{port} ({reason}): {advice}") from None


def _require_existing_store(settings: Settings) -> None:
    """Reading commands refuse a DuckDB file that is not there rather than create an empty one."""
    url = settings.store_url
    if url.backend == "duckdb" and url.path is not None and not url.path.exists():
        raise CnetwinError(
            f"no store at {url.path}: run `cnetwin collect` or `cnetwin demo` with it first, "
            "or pass --store (or set CNETWIN_STORE) to name the one to read"
        )


def _optional_duration(text: str | None) -> timedelta | None:
    """``--duration``: None when not given, else parsed (seconds, 2m, 1h …)."""
    return None if text is None else parse_duration(text)


def _wait_for_collector(collector: Any, published: int, timeout_s: float = 60.0) -> None:
    """Give the collector time to receive what the simulator published before stopping it."""
    deadline = time.monotonic() + timeout_s
    counters = collector.pipeline.counters
    while counters.received < published and time.monotonic() < deadline:
        time.sleep(0.1)


def _stop_after(duration: timedelta | None, stop: threading.Event) -> None:
    """Set ``stop`` once ``duration`` has passed (never when None)."""
    if duration is not None:
        timer = threading.Timer(duration.total_seconds(), stop.set)
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


def _start_dashboard(settings: Settings, store: Any, fleet: Fleet, *checks: Check) -> Any:
    """Serve the dashboard on waitress (``web_threads`` threads) in a background thread;
    returns the server (``.close()`` stops it). ``checks`` : readiness checks beyond the
    store's (``/readyz``)."""
    from waitress import create_server

    from dashboard.app import Services, create_app
    from twin.views.latest_cache import LatestStates

    services = Services(
        store=store,
        fleet=fleet,
        checks=checks,
        latest=LatestStates(period=timedelta(seconds=settings.refresh_s)),
        whatif_max_runs=settings.whatif_max_runs,
        alert_load_grace=timedelta(seconds=settings.alert_load_grace_s),
    )
    app = create_app(settings, services)
    try:
        server = create_server(
            app.server,
            host=settings.host,
            port=settings.port,
            threads=settings.web_threads,
            connection_limit=settings.web_connection_limit,
            url_scheme="https" if settings.https else "http",
            ident="cnetwin",
        )
    except OSError as exc:
        raise CnetwinError(
            f"cannot serve on {settings.host}:{settings.port} ({exc.strerror}): pass --port"
        ) from None
    threading.Thread(target=server.run, name="cnetwin-web", daemon=True).start()
    log.info("dashboard on http://%s:%s", settings.host, settings.port)
    return server


if __name__ == "__main__":
    sys.exit(main())
