"""The one exception tree of cnetwin. Every error says what to do about it."""


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
