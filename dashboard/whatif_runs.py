"""The what-if page's run processes: a run limit, and no run outliving its page or the server.

:class:`RunManager` is Dash's disk-cache manager for background callbacks with the run processes
kept in a registry the server owns:

* at most ``max_runs`` runs are alive at once (setting ``whatif_max_runs``); a further run starts
  no process and its result is the refusal, shown on the page;
* each run holds a lease that the page renews by polling for its result (Dash polls every
  second while the browser tab is open, also after in-app navigation to another page, which
  the page ends through Dash's cancel inputs); a run whose tab has closed is killed once the
  lease runs out;
* each run is a daemonic child process that takes back the default SIGTERM and SIGINT actions
  (a forked child would otherwise inherit the server's handler, which only sets a stop flag);
* :meth:`RunManager.stop_all` kills every run still alive (SIGKILL) and reaps it; the page
  registers it to run at interpreter exit, so a SIGTERM of ``serve``, ``demo`` or ``run`` ends
  every run before the process exits;
* the manager kills only processes it started, whatever job number a request names.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

from dash import DiskcacheManager

log = logging.getLogger(__name__)


def _with_default_signals(target: Callable[..., None]) -> Callable[..., None]:
    """``target`` run after SIGTERM and SIGINT are given back their default actions."""

    def run(*args: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        target(*args)

    return run


class RunManager(DiskcacheManager):
    """A disk-cache background-callback manager whose run processes the server owns.

    max_runs : runs alive at once at most; a further run is refused with ``refusal(message)``
    as its result, no process started. lease_s : a run whose page has not asked for its result
    (Dash polls every second while the page is open) for this long [s] is killed.
    """

    def __init__(
        self, cache: Any, max_runs: int, refusal: Callable[[str], Any], lease_s: float
    ) -> None:
        super().__init__(cache)
        self.max_runs = max_runs
        self.lease_s = lease_s
        self._refusal = refusal
        self._lock = threading.Lock()
        self._processes: dict[int, Any] = {}
        self._polled: dict[int, float] = {}
        self._stopped = threading.Event()
        threading.Thread(target=self._reap, name="whatif-lease", daemon=True).start()

    def call_job_fn(self, key: str, job_fn: Callable[..., None], args: Any, context: Any) -> int:
        """Start one run in a daemonic child process and register it; returns its PID (or
        ``REFUSED`` when ``max_runs`` runs are alive)."""
        from multiprocess import Process

        with self._lock:
            if len(self._alive()) >= self.max_runs:
                self.handle.set(key, self._refusal(_busy(self.max_runs)))
                return REFUSED
            process = Process(
                target=_with_default_signals(job_fn),
                args=(key, self._make_progress_key(key), args, context),
                daemon=True,
            )
            process.start()
            self._processes[process.pid] = process
            self._polled[process.pid] = time.monotonic()
        return int(process.pid)

    def get_result(self, key: str, job: Any) -> Any:
        """The run's result if ready; each call renews the run's lease."""
        with self._lock:
            if _pid(job) in self._polled:
                self._polled[_pid(job)] = time.monotonic()
        return super().get_result(key, job)

    def terminate_job(self, job: Any) -> None:
        """Kill the run ``job`` if this manager started it (never any other process)."""
        with self._lock:
            process = self._processes.pop(_pid(job), None)
            self._polled.pop(_pid(job), None)
        _kill(process)

    def terminate_unhealthy_job(self, job: Any) -> bool:
        """Reap ``job`` if it has ended; True if it had."""
        with self._lock:
            process = self._processes.get(_pid(job))
        if process is None or process.is_alive():
            return False
        self.terminate_job(job)
        return True

    def job_running(self, job: Any) -> bool:
        """Whether the run ``job`` is alive."""
        with self._lock:
            process = self._processes.get(_pid(job))
        return process is not None and process.is_alive()

    def running_pids(self) -> list[int]:
        """The PIDs of the runs alive."""
        with self._lock:
            return self._alive()

    def stop_all(self) -> None:
        """Kill every run and reap it; no run starts afterwards."""
        self._stopped.set()
        with self._lock:
            self.max_runs = 0
            processes = list(self._processes.values())
            self._processes.clear()
            self._polled.clear()
        for process in processes:
            _kill(process)

    def _alive(self) -> list[int]:
        return [pid for pid, process in self._processes.items() if process.is_alive()]

    def _reap(self) -> None:
        """Kill the runs whose lease has run out, once a second until stopped."""
        while not self._stopped.wait(1.0):
            now = time.monotonic()
            with self._lock:
                stale = [pid for pid, at in self._polled.items() if now - at > self.lease_s]
            for pid in stale:
                log.info("what-if run %d: its page has gone; stopping it", pid)
                self.terminate_job(pid)


REFUSED = -1
"""The job number of a run refused for the run limit (no process)."""


def _busy(max_runs: int) -> str:
    return (
        f"refused: {max_runs} what-if run(s) are already running on this server "
        "(setting whatif_max_runs); try again when one ends"
    )


def _pid(job: Any) -> int:
    """A job handle (the PID as Dash passes it back, a string or int) as an int."""
    try:
        return int(job)
    except (TypeError, ValueError):
        return REFUSED


def _kill(process: Any) -> None:
    """SIGKILL ``process`` if alive, then reap it (None: nothing)."""
    if process is None:
        return
    if process.is_alive():
        process.kill()
    process.join()
