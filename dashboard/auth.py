"""Sign-in and roles on the dashboard's server.

Off when neither a users file nor a trusted proxy header is configured: everyone is then
``admin``, which :func:`install` allows only on a loopback address unless ``allow_anonymous``
says otherwise. On, every request but the sign-in page, static assets and the health and
metrics probes needs a signed-in user:

* **users file** (:mod:`twin.users`): ``/login`` checks the password against the Argon2 hash
  and keeps the user's name in Flask's signed session cookie (HttpOnly, SameSite=Lax, Secure
  when ``https``), with a fingerprint of the hash, so removing a user or changing a password
  ends that user's sessions;
* **trusted proxy**: a reverse proxy that signs people in names the user in
  ``auth_proxy_header``; the header is believed only from ``auth_proxy_addresses``, and the
  user must be in the users file (for the role).

Roles are checked by the server: a callback request triggered by one of
``ids.OPERATOR_TRIGGERS`` from a user below ``operator`` is refused with 403 before Dash runs
it, background callbacks included; pages only grey out what a viewer may not use.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import os
import secrets
from datetime import timedelta
from functools import cache
from html import escape
from pathlib import Path
from urllib.parse import quote

from dash import Dash, Input, Output, html
from dash.development.base_component import Component
from flask import Response, g, has_request_context, redirect, request, session
from werkzeug.wrappers import Response as BaseResponse

from dashboard import ids
from twin.config import Settings
from twin.errors import ConfigError
from twin.users import User, hash_password, read_users

log = logging.getLogger(__name__)

ANONYMOUS = User("anonymous", "admin")
"""Who everyone is while sign-in is off."""
SESSION_LIFETIME = timedelta(hours=12)
PUBLIC = ("login", "assets/", "_favicon.ico", "healthz", "readyz", "metrics")
"""Paths (under the routes prefix) served without sign-in: no fleet data behind them."""


def auth_enabled(settings: Settings) -> bool:
    """Whether the dashboard asks who you are."""
    return settings.users_file is not None or settings.auth_proxy_header is not None


def is_loopback(host: str) -> bool:
    """Whether binding to ``host`` keeps the server off the network."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def refuse_open_exposure(settings: Settings) -> None:
    """ConfigError when the dashboard would listen beyond loopback with no sign-in."""
    if is_loopback(settings.host) or auth_enabled(settings) or settings.allow_anonymous:
        return
    raise ConfigError(
        f"the dashboard would listen on {settings.host} with no sign-in, letting anyone who "
        "reaches it create silences and start runs: add users with `cnetwin users add NAME "
        "--role operator --file users.toml` and set users_file (CNETWIN_USERS_FILE), set "
        "auth_proxy_header behind a proxy that signs people in, bind to 127.0.0.1, or pass "
        "--allow-anonymous to accept the risk"
    )


def current_user() -> User | None:
    """The user behind the request being served (ANONYMOUS while sign-in is off); None when
    nobody is signed in. Outside a request (a test building a layout): ANONYMOUS."""
    return g.get("cnetwin_user", ANONYMOUS) if has_request_context() else ANONYMOUS


def may_operate() -> bool:
    """Whether the current user may create silences and start what-if runs."""
    user = current_user()
    return user is not None and user.allows("operator")


def account_area() -> Component:
    """The header's place for the signed-in user and the sign-out button."""
    return html.Div(id=ids.ACCOUNT, className="account")


def install(app: Dash, settings: Settings) -> None:
    """Guard ``app``'s server as the module docstring says; ConfigError (before anything
    listens) when the settings would expose it unguarded."""
    refuse_open_exposure(settings)
    server = app.server
    prefix = app.config.routes_pathname_prefix
    server.config.update(
        SECRET_KEY=session_secret(settings),
        SESSION_COOKIE_NAME="cnetwin_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.https,
        PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME,
    )
    directory = _Directory(settings.users_file)
    proxies = {a.strip() for a in settings.auth_proxy_addresses.split(",") if a.strip()}
    enabled = auth_enabled(settings)

    def identify() -> User | None:
        header = settings.auth_proxy_header
        if header and request.remote_addr in proxies and request.headers.get(header):
            return directory.get(request.headers[header])
        name, check = session.get("user"), session.get("check")
        user = directory.get(name) if isinstance(name, str) else None
        return user if user is not None and check == _fingerprint(user) else None

    @server.before_request
    def guard() -> BaseResponse | None:
        if not enabled:
            return None
        g.cnetwin_user = user = identify()
        path = request.path.removeprefix(prefix)
        if path.startswith(PUBLIC):
            return None
        if user is None:
            if path.startswith("_"):
                return _json({"error": "sign in first"}, 401)
            return redirect(f"{prefix}login?next={quote(request.full_path.rstrip('?'))}")
        if path == "_dash-update-component" and not user.allows("operator"):
            trigger = _operator_trigger(request.get_json(silent=True))
            if trigger is not None:
                log.warning("refused %s (%s) to %s", trigger, user.role, user.name)
                return _json({"error": f"{trigger} needs the operator role"}, 403)
        return None

    def login() -> BaseResponse | str:
        wanted = request.args.get("next", "")
        # back to a page of this site only: browsers take "//host" and "/\\host" as off-site
        local = wanted.startswith("/") and not wanted.startswith(("//", "/\\"))
        target = wanted if local else prefix
        if request.method == "GET":
            return _login_page(prefix, target, "")
        name = request.form.get("user", "")
        user = directory.get(name)
        if not (user or _stand_in()).verify(request.form.get("password", "")) or user is None:
            log.warning("sign-in refused for %r from %s", name[:64], request.remote_addr)
            return Response(_login_page(prefix, target, "Wrong user name or password."), 401)
        session.clear()
        session.permanent = True
        session.update(user=user.name, check=_fingerprint(user))
        log.info("%s (%s) signed in from %s", user.name, user.role, request.remote_addr)
        return redirect(target)

    def logout() -> BaseResponse:
        session.clear()
        return redirect(f"{prefix}login")

    server.add_url_rule(f"{prefix}login", "cnetwin_login", login, methods=["GET", "POST"])
    server.add_url_rule(f"{prefix}logout", "cnetwin_logout", logout, methods=["POST"])

    @app.callback(Output(ids.ACCOUNT, "children"), Input(ids.URL, "pathname"))
    def account(_path: str | None) -> list[Component]:
        user = current_user()
        if not enabled or user is None:
            return []
        return [
            html.Span(f"{user.name} · {user.role}", className="account-user"),
            html.Form(
                html.Button("Sign out", className="account-signout", id="account-signout"),
                method="post",
                action=f"{prefix}logout",
            ),
        ]


def session_secret(settings: Settings) -> str:
    """The key signing session cookies: the setting, else a random key kept (mode 0600) in
    ``data_dir/session_secret`` so every worker and restart shares it."""
    if settings.session_secret is not None:
        return settings.session_secret.get_secret_value()
    path = settings.data_dir / "session_secret"
    try:
        if not path.exists():
            _write_private(path, secrets.token_urlsafe(32))
        return path.read_text().strip()
    except OSError as exc:
        raise ConfigError(
            f"cannot keep the session key in {path} ({exc.strerror}): set session_secret "
            "(CNETWIN_SESSION_SECRET)"
        ) from None


class _Directory:
    """The users file, read again whenever it changes on disk."""

    def __init__(self, path: Path | None) -> None:
        self.path, self.stamp, self.users = path, -1, dict[str, User]()

    def get(self, name: str) -> User | None:
        if self.path is None:
            return None
        stamp = self.path.stat().st_mtime_ns if self.path.exists() else 0
        if stamp != self.stamp:
            self.users, self.stamp = read_users(self.path) if stamp else {}, stamp
        return self.users.get(name)


@cache
def _stand_in() -> User:
    """Checked against when the user is unknown, so the answer takes as long either way."""
    return User("", "viewer", hash_password(secrets.token_urlsafe(16)))


def _fingerprint(user: User) -> str:
    return hashlib.sha256(f"{user.role}\0{user.password_hash}".encode()).hexdigest()[:16]


def _operator_trigger(body: object) -> str | None:
    """The operator-only component that triggered a Dash callback request, if any."""
    changed = body.get("changedPropIds", []) if isinstance(body, dict) else []
    for prop in changed if isinstance(changed, list) else []:
        component = str(prop).rpartition(".")[0]
        if component.startswith("{"):
            try:
                component = str(json.loads(component).get("type", ""))
            except (ValueError, AttributeError):
                continue
        if component in ids.OPERATOR_TRIGGERS:
            return component
    return None


def _json(body: dict[str, str], status: int) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)


def _login_page(prefix: str, target: str, message: str) -> str:
    error = f'<p class="login-error" role="alert">{escape(message)}</p>' if message else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in · cnetwin</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="{prefix}assets/style.css"></head>
<body class="login-body"><main class="login">
<div class="brand"><span class="brand-name">cnetwin</span>
<span class="brand-tagline">computing · network · energy twin</span></div>
<form method="post" action="{prefix}login?next={escape(quote(target))}" class="login-form">
<label>User <input name="user" autocomplete="username" required autofocus></label>
<label>Password <input name="password" type="password" autocomplete="current-password"
required></label>{error}
<button type="submit" class="login-button">Sign in</button></form></main></body></html>"""
