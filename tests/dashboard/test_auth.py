"""Sign-in, roles and security headers in a real headless Chromium: the sign-in page, a wrong
password, a viewer refused a silence by the server, signing out, and an operator's silence."""

from __future__ import annotations

import http.client
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port
from tests.dashboard.serving import SCREENSHOTS, chromium_page, serving_store
from twin.alerts.silences import read_silences
from twin.cli import main
from twin.inventory import example_fleet
from twin.store.duckdb import DuckDBStore
from twin.users import add_user, read_users

NOW = datetime(2025, 6, 1, 6, tzinfo=UTC)
VIEWER, OPERATOR = ("victor", "viewer-password-1"), ("alice", "operator-password-1")
HEADERS = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


def sign_in(page: Any, base: str, user: tuple[str, str]) -> None:
    page.fill("input[name=user]", user[0])
    page.fill("input[name=password]", user[1])
    page.click("button[type=submit]")


def post_silence(page: Any, base: str, comment: str) -> tuple[int, str]:
    """POST, from the page and with its session, the callback request the Alerts page's
    Silence button sends; returns the answer's status and body."""
    body = {
        "output": "..alerts-feedback.children...alerts-matchers.value..",
        "outputs": [
            {"id": "alerts-feedback", "property": "children"},
            {"id": "alerts-matchers", "property": "value"},
        ],
        "inputs": [{"id": "alerts-create", "property": "n_clicks", "value": 1}],
        "changedPropIds": ["alerts-create.n_clicks"],
        "state": [
            {"id": "alerts-matchers", "property": "value", "value": 'alertname="x"'},
            {"id": "alerts-duration", "property": "value", "value": "2h"},
            {"id": "alerts-comment", "property": "value", "value": comment},
        ],
    }
    answer = page.evaluate(
        """async ([url, body]) => {
            const r = await fetch(url, {method: "POST", body: JSON.stringify(body),
                                        headers: {"Content-Type": "application/json"}});
            return [r.status, await r.text()];
        }""",
        [f"{base}/_dash-update-component", body],
    )
    return int(answer[0]), str(answer[1])


def test_sign_in_roles_and_sign_out_in_chromium(tmp_path: Path) -> None:
    users = tmp_path / "users.toml"
    add_user(users, VIEWER[0], "viewer", VIEWER[1])
    add_user(users, OPERATOR[0], "operator", OPERATOR[1])
    store = DuckDBStore(tmp_path / "twin.duckdb")
    problems: list[str] = []
    try:
        with (
            serving_store(
                store, example_fleet(), lambda: NOW, tmp_path / "data", users_file=users
            ) as base,
            chromium_page(problems, height=900) as page,
        ):
            # nobody signed in: every page leads to the sign-in page; Dash's data needs a user
            response = page.goto(f"{base}/alerts")
            assert response is not None and page.url == f"{base}/login?next=/alerts"
            for name, value in HEADERS.items():
                assert response.headers[name] == value
            policy = response.headers["content-security-policy"]
            assert "script-src 'self' 'sha256-" in policy and "frame-ancestors 'none'" in policy
            assert page.request.get(f"{base}/_dash-layout").status == 401
            page.screenshot(path=str(SCREENSHOTS / "sign-in.png"))

            sign_in(page, base, (VIEWER[0], "not-the-password"))
            page.wait_for_selector(".login-error:has-text('Wrong user name or password')")

            # a viewer reads every page but the server refuses a silence
            sign_in(page, base, VIEWER)
            page.wait_for_url(f"{base}/alerts")
            page.wait_for_selector(".account-user:text-is('victor · viewer')")
            cookie = next(c for c in page.context.cookies() if c["name"] == "cnetwin_session")
            assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and not cookie["secure"]
            create = page.locator("#alerts-create")
            assert create.is_disabled()
            page.wait_for_selector(".alerts-feedback:has-text('needs the operator role')")
            status, body = post_silence(page, base, "forged by a viewer")
            assert status == 403 and "alerts-create needs the operator role" in body
            assert read_silences(store, NOW) == []
            page.screenshot(path=str(SCREENSHOTS / "alerts-viewer-refused.png"))
            page.goto(f"{base}/whatif")
            page.wait_for_selector(".whatif-grid:has-text('what-if runs need the operator role')")
            assert page.locator("#whatif-run").is_disabled()

            # signing out ends the session
            page.click(".account-signout")
            page.wait_for_url(f"{base}/login")
            page.goto(f"{base}/alerts")
            assert page.url.startswith(f"{base}/login")

            # an operator silences: the request refused to the viewer, then the form
            sign_in(page, base, OPERATOR)
            page.wait_for_selector(".account-user:text-is('alice · operator')")
            assert post_silence(page, base, "sent by an operator")[0] == 200
            assert [s.comment for s in read_silences(store, NOW)] == ["sent by an operator"]
            page.fill("#alerts-matchers", 'alertname="node_entropy_drift"')
            page.fill("#alerts-comment", "maintenance")
            page.click("#alerts-create")
            page.wait_for_selector("#alerts-silence-table tbody tr")
            comments = {s.comment for s in read_silences(store, NOW)}
            assert comments == {"sent by an operator", "maintenance"}
    finally:
        store.close()
    # the wrong password's page (401) and the viewer's refused request (403) are the only errors
    expected = ("status of 401 (UNAUTHORIZED)", "status of 403 (FORBIDDEN)")
    assert [p for p in problems if not p.endswith(expected)] == []
    assert len(problems) == 2


def test_users_command_writes_argon2_hashes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "users.toml"
    monkeypatch.setattr("sys.stdin", _Lines("a-long-password-9\n"))
    assert (
        main(["users", "add", "ops", "--role", "operator", "--password-stdin", "--file", str(path)])
        == 0
    )
    assert main(["users", "add", "proxy-user", "--no-password", "--file", str(path)]) == 0
    users = read_users(path)
    assert users["ops"].password_hash.startswith("$argon2id$")
    assert "a-long-password-9" not in path.read_text()
    assert users["ops"].verify("a-long-password-9") and not users["ops"].verify("guess")
    assert users["proxy-user"].role == "viewer" and not users["proxy-user"].verify("")
    assert path.stat().st_mode & 0o777 == 0o600
    assert main(["users", "list", "--file", str(path)]) == 0
    assert "ops                      operator  password" in capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", _Lines("short\n"))
    assert main(["users", "add", "x", "--password-stdin", "--file", str(path)]) == 2
    assert "at least 12 characters" in capsys.readouterr().err
    assert main(["users", "remove", "ops", "--file", str(path)]) == 0
    assert set(read_users(path)) == {"proxy-user"}


@pytest.mark.parametrize("command", ["serve", "demo"])
def test_no_listening_beyond_loopback_without_sign_in(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    options = ["--host", "0.0.0.0", "--data-dir", str(tmp_path)] if command == "demo" else [
        "--host", "0.0.0.0", "--store", f"duckdb:///{tmp_path / 'twin.duckdb'}"
    ]  # fmt: skip
    assert main([command, *options, "--port", str(free_port())]) == 2
    err = capsys.readouterr().err
    assert "with no sign-in" in err and "cnetwin users add" in err and "--allow-anonymous" in err


class _Lines:
    """A standard input holding ``text``."""

    def __init__(self, text: str) -> None:
        self.text = text

    def readline(self) -> str:
        return self.text


def _status(url: str, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as refused:
        return refused.code


@pytest.mark.parametrize(("trusted", "believed"), [("127.0.0.1,::1", True), ("10.0.0.7", False)])
def test_a_trusted_proxy_names_the_user(tmp_path: Path, trusted: str, believed: bool) -> None:
    users = tmp_path / "users.toml"
    add_user(users, "carol", "operator", None)  # known to the proxy only
    store = DuckDBStore(tmp_path / "twin.duckdb")
    try:
        with serving_store(
            store,
            example_fleet(),
            lambda: NOW,
            tmp_path / "data",
            users_file=users,
            auth_proxy_header="X-Forwarded-User",
            auth_proxy_addresses=trusted,
        ) as base:
            layout = f"{base}/_dash-layout"
            assert _status(layout, {"X-Forwarded-User": "carol"}) == (200 if believed else 401)
            assert _status(layout, {"X-Forwarded-User": "mallory"}) == 401
            assert _status(layout, {}) == 401
    finally:
        store.close()


@pytest.mark.parametrize(
    ("wanted", "landing"),
    [("/alerts?t=1", "/alerts?t=1"), ("//example.invalid/x", "/"), ("/\\example.invalid", "/")],
)
def test_sign_in_sends_back_to_this_site_only(tmp_path: Path, wanted: str, landing: str) -> None:
    users = tmp_path / "users.toml"
    add_user(users, OPERATOR[0], "operator", OPERATOR[1])
    store = DuckDBStore(tmp_path / "twin.duckdb")
    try:
        with serving_store(
            store, example_fleet(), lambda: NOW, tmp_path / "data", users_file=users
        ) as base:
            connection = http.client.HTTPConnection(base.removeprefix("http://"), timeout=30)
            form = urllib.parse.urlencode({"user": OPERATOR[0], "password": OPERATOR[1]})
            connection.request(
                "POST",
                "/login?" + urllib.parse.urlencode({"next": wanted}),
                form,
                {"Content-Type": "application/x-www-form-urlencoded"},
            )
            answer = connection.getresponse()
            assert answer.status == 302 and answer.getheader("Location") == landing
            connection.close()
    finally:
        store.close()


def test_behind_https_the_session_cookie_is_secure(tmp_path: Path) -> None:
    users = tmp_path / "users.toml"
    add_user(users, OPERATOR[0], "operator", OPERATOR[1])
    store = DuckDBStore(tmp_path / "twin.duckdb")
    try:
        with serving_store(
            store, example_fleet(), lambda: NOW, tmp_path / "data", users_file=users, https=True
        ) as base:
            connection = http.client.HTTPConnection(base.removeprefix("http://"), timeout=30)
            form = urllib.parse.urlencode({"user": OPERATOR[0], "password": OPERATOR[1]})
            headers = {"Content-Type": "application/x-www-form-urlencoded"}
            connection.request("POST", "/login", form, headers)
            answer = connection.getresponse()
            cookie = answer.getheader("Set-Cookie") or ""
            assert cookie.startswith("cnetwin_session=")
            assert {"Secure", "HttpOnly", "SameSite=Lax"} <= {p.strip() for p in cookie.split(";")}
            assert answer.getheader("Strict-Transport-Security") == "max-age=31536000"
            connection.close()
    finally:
        store.close()
