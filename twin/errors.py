"""The one exception tree of cnetwin. Every error says what to do about it.

Logging an error: pass its text (``str(exc)``, :func:`traceback_text`), not the exception. A log
record keeps its arguments and ``exc_info`` for as long as a handler keeps the record (pytest
keeps every record of a test; buffering handlers keep theirs), and an exception keeps, through
its traceback, every frame it passed and their local variables: in the collector, the batch
being written, its messages and the MQTT client they came on.
"""

import traceback


class CnetwinError(Exception):
    """Base class of every error cnetwin raises on purpose."""


class ConfigError(CnetwinError):
    """A setting, URL or file is wrong; the message says what to write instead."""


class InventoryError(ConfigError):
    """A fleet description file is malformed or inconsistent."""


class PayloadError(CnetwinError):
    """A telemetry payload cannot be turned into readings.

    ``reason`` is a short stable slug (``bad_json``, ``out_of_range`` …) used to count and
    dead-letter the payload; the message is the human explanation.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class StoreError(CnetwinError):
    """The telemetry store refused or failed an operation."""


class StoreUnavailable(StoreError):
    """The store cannot be reached right now; the operation may be retried later."""


def traceback_text(exc: BaseException) -> str:
    """``exc`` with its traceback (and the exceptions it came from), as text for a log message."""
    return "".join(traceback.format_exception(exc)).rstrip()
