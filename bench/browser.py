"""Benchmark of the dashboard as a browser sees it, on a demo of any size.

Starts ``cnetwin demo --nodes N --sites S`` on free ports with its store in a temporary
directory, waits until the history is stored and live telemetry has caught up (the Overview's
first KPI shows ``--ready-share`` of the nodes reporting), then drives every page in Debian's
headless Chromium (Playwright), one page after the other, each for ``--dwell`` seconds, until
``--minutes`` have passed.
Prints, per page:

* **first render** [s]: from navigation until the page's main figure (or table) has data;
  the first visit, and the median over every visit;
* **callbacks**: count, p50 and p95 [ms] of every ``/_dash-update-component`` request
  (Playwright's request timing, request start to response end), and the slowest output;

and the demo process's resident memory (RSS, ``/proc/<pid>/status``) sampled every
``--rss-every`` seconds from the moment the dashboard is ready: a line per minute, its growth
over the first and the second half of the run [MB/min]. ``--rss-csv`` writes every sample.

Everything started here (the demo, Chromium) is stopped here, the demo by its PID.

Run: ``python -m bench.browser --nodes 1000 --sites 100 --minutes 30`` from the repository
root. Not part of the test run; the targets are a callback p95 under 100 ms and a first render
under 2 s on every page.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Page, Request, sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def _graph_has_data(graph_id: str) -> str:
    """JS expression: the plotly graph inside ``#graph_id`` has a trace with points (in its
    drawn data, where arrays sent as binary typed arrays are decoded)."""
    return (
        f"(() => {{ const g = document.querySelector('#{graph_id} .js-plotly-plot');"
        " return !!g && Array.isArray(g._fullData) && g._fullData.some(t =>"
        " (t.x && t.x.length > 0) || (t.z && t.z.length > 0) || (t.lat && t.lat.length > 1)"
        " || (t.values && t.values.length > 0)); })()"
    )


def _has_text(element_id: str) -> str:
    """JS expression: ``#element_id`` exists and shows text."""
    return (
        f"(() => {{ const e = document.getElementById('{element_id}');"
        " return !!e && e.innerText.trim().length > 0; })()"
    )


PAGES: dict[str, tuple[str, list[str]]] = {
    "Overview": (
        "/",
        [
            _graph_has_data("overview-series"),
            _graph_has_data("overview-heatmap"),
            _graph_has_data("overview-map"),
        ],
    ),
    "Energy": ("/energy", [_graph_has_data("energy-power"), _graph_has_data("energy-heatmap")]),
    "Entropy": ("/entropy", [_graph_has_data("entropy-heatmap")]),
    "Replay": ("/replay", [_graph_has_data("replay-map")]),
    "What-if": ("/whatif", ["!!document.getElementById('whatif-preset')"]),
    "Forecasts": ("/forecasts", [_graph_has_data("forecasts-graph")]),
    "Alerts": ("/alerts", [_has_text("alerts-kpis")]),
}
"""Page name → (path, JS conditions that together mean "the page shows its data")."""


@dataclass
class PageFigures:
    """What one page measured over every visit."""

    renders_s: list[float] = field(default_factory=list)
    callbacks_ms: list[float] = field(default_factory=list)
    by_output: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    timeouts: int = 0


STOPPING = threading.Event()
"""Set by SIGINT or SIGTERM: the run ends at the next check and stops what it started."""


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: STOPPING.set())
    data_dir = Path(tempfile.mkdtemp(prefix="cnetwin-bench-browser-"))
    port, mqtt_port = _free_port(), _free_port()
    command = [sys.executable, "-m", "twin.cli", "demo", "--nodes", str(args.nodes)]
    command += ["--sites", str(args.sites), "--port", str(port), "--mqtt-port", str(mqtt_port)]
    command += ["--data-dir", str(data_dir)]
    if args.backfill is not None:
        command += ["--backfill", args.backfill]
    print("starting:", " ".join(command[1:]), flush=True)
    log_path = data_dir / "demo.log"
    with log_path.open("w") as log_file:
        demo = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log_file, text=True)
    try:
        return _run(args, demo, port)
    finally:
        _stop(demo)
        for path in data_dir.glob("cnetwin.duckdb*"):
            path.unlink()
        print(f"demo stopped (pid {demo.pid}); its log: {log_path}", flush=True)


def _run(args: argparse.Namespace, demo: subprocess.Popen[str], port: int) -> int:
    assert demo.stdout is not None
    banner = demo.stdout.readline()
    if not banner:
        print("the demo exited before serving; see its log", file=sys.stderr)
        return 1
    print(banner.strip(), flush=True)
    base = f"http://127.0.0.1:{port}"
    figures: dict[str, PageFigures] = {name: PageFigures() for name in PAGES}
    current = {"page": ""}
    rss = RssSampler(demo.pid, args.rss_every)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1920, "height": 1080})
            page.on("requestfinished", lambda r: _record(r, figures, current))
            t0 = time.monotonic()
            page.goto(base + "/", wait_until="commit")
            _wait_for_everyone(page, args.nodes, args.ready_share, args.ready_timeout)
            ready = time.monotonic() - t0
            print(f"history stored, nodes fresh after {ready:.0f} s", flush=True)
            rss.start()
            for figure in figures.values():  # start-up requests are not steady-state figures
                figure.callbacks_ms.clear()
                figure.by_output.clear()
            end = time.monotonic() + args.minutes * 60
            while time.monotonic() < end and not STOPPING.is_set():
                for name, (path, conditions) in PAGES.items():
                    if time.monotonic() >= end or STOPPING.is_set():
                        break
                    current["page"] = name
                    _visit(page, base + path, conditions, figures[name], args, end)
        finally:
            rss.stop()
            browser.close()
    _report(figures, rss.samples, args)
    if args.rss_csv:
        with Path(args.rss_csv).open("w") as out:
            out.write("seconds,rss_mb\n")
            out.writelines(f"{t:.0f},{mb:.1f}\n" for t, mb in rss.samples)
    return 0


def _visit(
    page: Page,
    url: str,
    conditions: list[str],
    figure: PageFigures,
    args: argparse.Namespace,
    end: float,
) -> None:
    """Open ``url``, time its first render, then stay ``args.dwell`` s for live callbacks."""
    t0 = time.monotonic()
    page.goto(url, wait_until="commit")
    script = "() => " + " && ".join(conditions)
    try:
        page.wait_for_function(script, timeout=args.render_timeout * 1000, polling=50)
        figure.renders_s.append(time.monotonic() - t0)
    except Exception:  # a page that never shows data is reported, not fatal
        figure.timeouts += 1
    leave = min(time.monotonic() + args.dwell, end)
    while time.monotonic() < leave and not STOPPING.is_set():
        page.wait_for_timeout(min(leave - time.monotonic(), 1.0) * 1000)


def _record(request: Request, figures: dict[str, PageFigures], current: dict[str, str]) -> None:
    """Keep the duration of a finished Dash callback request, under the page shown."""
    if "/_dash-update-component" not in request.url or current["page"] not in figures:
        return
    timing = request.timing
    elapsed = timing.get("responseEnd", -1.0)
    if elapsed < 0:
        return
    try:
        output = str(json.loads(request.post_data or "{}").get("output", "?"))
    except ValueError:
        output = "?"
    figure = figures[current["page"]]
    figure.callbacks_ms.append(elapsed)
    figure.by_output[output].append(elapsed)


def _wait_for_everyone(page: Page, nodes: int, share: float, timeout_s: float) -> None:
    """Wait (reloading every minute) until the Overview's first KPI reads at least
    ``share`` × ``nodes`` nodes reporting."""
    deadline = time.monotonic() + timeout_s
    least = int(share * nodes)
    everyone = (
        "() => { const e = document.querySelector('.kpi-value');"
        " const m = !!e && /^(\\d+)\\s*\\//.exec(e.innerText.trim());"
        f" return !!m && Number(m[1]) >= {least}; }}"
    )
    waited = 0
    while not STOPPING.is_set():
        try:
            page.wait_for_function(everyone, timeout=2_000, polling=1000)
            return
        except Exception:
            if time.monotonic() > deadline:
                raise TimeoutError(f"not every node reported within {timeout_s:.0f} s") from None
            waited += 1
            if waited % 30 == 0:  # about a minute
                print("… waiting for the history to be stored", flush=True)
                page.reload(wait_until="commit")
    raise KeyboardInterrupt


class RssSampler:
    """Samples a process's resident memory [MB] every ``every_s`` seconds in a thread."""

    def __init__(self, pid: int, every_s: float) -> None:
        self.pid, self.every_s = pid, every_s
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> None:
        self._t0 = time.monotonic()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _loop(self) -> None:
        while True:
            mb = rss_mb(self.pid)
            if mb is not None:
                self.samples.append((time.monotonic() - self._t0, mb))
            if self._stop.wait(self.every_s):
                return


def rss_mb(pid: int) -> float | None:
    """Resident memory of ``pid`` [MB], None once it has gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _report(
    figures: dict[str, PageFigures], samples: list[tuple[float, float]], args: argparse.Namespace
) -> None:
    print(f"\n{args.nodes} nodes, {args.sites} sites, {args.minutes:g} min, {args.dwell:g} s/visit")
    print(
        f"{'page':<10} {'visits':>6} {'first [s]':>9} {'median [s]':>10} {'calls':>6}"
        f" {'p50 [ms]':>9} {'p95 [ms]':>9}  slowest output (p95 ms)"
    )
    for name, f in figures.items():
        first = f"{f.renders_s[0]:.2f}" if f.renders_s else "—"
        median = f"{statistics.median(f.renders_s):.2f}" if f.renders_s else "—"
        if f.timeouts:
            median += f" ({f.timeouts} timed out)"
        p50, p95 = _percentile(f.callbacks_ms, 50), _percentile(f.callbacks_ms, 95)
        slowest = max(f.by_output.items(), key=lambda kv: _percentile(kv[1], 95), default=None)
        slow = f"{slowest[0][:60]} ({_percentile(slowest[1], 95):.0f})" if slowest else ""
        print(
            f"{name:<10} {len(f.renders_s) + f.timeouts:>6} {first:>9} {median:>10}"
            f" {len(f.callbacks_ms):>6} {p50:>9.0f} {p95:>9.0f}  {slow}"
        )
    if not samples:
        return
    print("\nRSS of the demo process [MB], from the moment every node reported:")
    minute = -1
    for t, mb in samples:
        if int(t // 60) > minute:
            minute = int(t // 60)
            print(f"  {t / 60:5.1f} min  {mb:7.1f}")
    last_t, last_mb = samples[-1]
    peak = max(mb for _, mb in samples)
    print(f"  {last_t / 60:5.1f} min  {last_mb:7.1f}  (last; max {peak:.1f})")
    half = samples[-1][0] / 2
    for label, part in (
        ("first half", [s for s in samples if s[0] <= half]),
        ("second half", [s for s in samples if s[0] >= half]),
    ):
        if len(part) >= 2 and part[-1][0] > part[0][0]:
            slope = (part[-1][1] - part[0][1]) / ((part[-1][0] - part[0][0]) / 60)
            print(f"  growth over the {label}: {slope:+.2f} MB/min")


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(round(q / 100 * (len(ordered) - 1)), len(ordered) - 1)
    return ordered[index]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stop(process: subprocess.Popen[str]) -> None:
    """SIGTERM the demo by its PID (a clean stop), SIGKILL if it has not gone in 60 s."""
    if process.poll() is not None:
        return
    os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.browser",
        description=(
            "Start a demo of a synthetic fleet, drive every dashboard page in headless Chromium "
            "and print each page's first-render time, its Dash callback p50/p95 and the demo's "
            "memory over the run."
        ),
    )
    parser.add_argument("--nodes", type=int, default=1000, help="fleet size (1000)")
    parser.add_argument("--sites", type=int, default=100, help="sites of the fleet (100)")
    parser.add_argument("--minutes", type=float, default=5.0, help="length of the run (5)")
    parser.add_argument("--dwell", type=float, default=60.0, help="seconds on a page (60)")
    parser.add_argument(
        "--backfill", help="history the demo publishes first (default: the demo's own, 49h)"
    )
    parser.add_argument(
        "--ready-timeout",
        type=float,
        default=1800.0,
        help="seconds to wait for the history to be stored (1800)",
    )
    parser.add_argument(
        "--ready-share",
        type=float,
        default=0.9,
        help="share of the nodes that must report before measuring (0.9)",
    )
    parser.add_argument(
        "--render-timeout", type=float, default=60.0, help="seconds a first render may take (60)"
    )
    parser.add_argument("--rss-every", type=float, default=10.0, help="RSS sample period [s] (10)")
    parser.add_argument("--rss-csv", help="write every RSS sample to this CSV file")
    return parser


if __name__ == "__main__":
    sys.exit(main())
