"""Keeping secrets out of sight: URLs masked before they reach a message or a log, and the
placeholder secrets of ``.env.example`` refused at start.

Every message that shows a URL a user configured (broker, store, webhook) passes it through
:func:`mask_url` first, whether the URL parsed or not.
"""

from __future__ import annotations

import re

from twin.errors import ConfigError

MASK = "***"
PLACEHOLDER_PREFIXES = ("change-me", "changeme", "change_me")
"""A secret starting with one of these (any case) is an unchanged example value."""
_SECRET_QUERY = re.compile(r"(?i)([?&](?:token|password|passwd|pass|secret|key|auth)=)[^&#]*")


def mask_url(url: str, keep_path: bool = True) -> str:
    """``url`` with the password of its user-info and secret query values (``token=``,
    ``password=`` …) replaced by ``***``; with ``keep_path=False`` only ``scheme://host[:port]``
    is kept (for webhook URLs, whose path often is the secret). Works on malformed URLs too."""
    scheme, separator, rest = url.partition("://")
    if not separator:
        return MASK if ":" in url or "@" in url else url
    if "@" in rest:
        userinfo, _, rest = rest.rpartition("@")
        user = userinfo.split(":", 1)[0]
        rest = f"{user}:{MASK}@{rest}" if ":" in userinfo else f"{user}@{rest}"
    if not keep_path:
        host = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
        rest = host + ("/…" if host != rest else "")
    return f"{scheme}://" + _SECRET_QUERY.sub(lambda m: m[1] + MASK, rest)


def is_placeholder(secret: str) -> bool:
    """Whether ``secret`` is an example value left unchanged (``change-me…``)."""
    return secret.strip().lower().startswith(PLACEHOLDER_PREFIXES)


def refuse_placeholder(secret: str | None, what: str) -> None:
    """ConfigError when ``secret`` (the ``what``, e.g. "the broker password") is a placeholder;
    the message never repeats the secret."""
    if secret is not None and is_placeholder(secret):
        raise ConfigError(
            f"{what} is still the placeholder from .env.example: set a secret of your own, "
            "e.g. the output of `openssl rand -base64 24`"
        )
