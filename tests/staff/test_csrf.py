"""CSRF (issue 13 item 3): every state-changing route under /staff, those added later
included, refuses a request without the session's token, or from another site, with 403 and
nothing changed. The routes are enumerated from the app itself, so a new route cannot be
forgotten. Also: login CSRF, anonymous POSTs, and the token accepted where htmx and forms put
it. SQLite."""

from __future__ import annotations

import re
from typing import Any

import fastapi.routing
import httpx
import pytest
from fastapi import FastAPI

from mailer.staff import accounts, invites
from mailer.staff.accounts import Role
from mailer.store.db import transaction
from tests.staff.conftest import PASSWORD, StaffServer, csrf_token, database_state

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
PARAM = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")


def every_route(app: FastAPI) -> list[Any]:
    """Every route of the app, those of included routers too. (FastAPI 0.165 keeps an included
    router as one entry of app.routes; iter_route_contexts is how its OpenAPI schema walks
    them.)"""
    walk = getattr(fastapi.routing, "iter_route_contexts", None)
    return list(walk(app.routes)) if walk is not None else list(app.routes)


def unsafe_staff_routes(server: StaffServer) -> list[tuple[str, str]]:
    """(method, path template) of every state-changing route of the app under /staff."""
    found = []
    for route in every_route(server.app):
        path = getattr(route, "path", None) or ""
        if path != "/staff" and not path.startswith("/staff/"):
            continue
        methods = getattr(route, "methods", None) or set()
        found.extend((method, path) for method in sorted(set(methods) & UNSAFE))
    return found


def fill(server: StaffServer, path: str) -> str:
    """A real value for each path parameter where there is one (a campaign's slug, a valid
    set-password link), so that a refusal is the guard's and not a 404."""
    values = {"slug": first_campaign(server)}
    if "{token}" in path:
        with transaction(server.sessions) as db:
            row = accounts.add(db, "invited@clinic.example", Role.EDITOR, now=server.clock())
            values["token"] = invites.issue(
                db, row, server.app.state.context.key, now=server.clock()
            )
    return PARAM.sub(lambda m: values.get(m.group(1), "x"), path)


def first_campaign(server: StaffServer) -> str:
    files = sorted(server.workspace.campaigns_dir.glob("*.md"))
    return files[0].stem if files else "x"


def form_for(token: str | None) -> dict[str, str]:
    """What a page's form would send (plus the token when given)."""
    form = {
        "subject": "Changed by another site",
        "body": "changed",
        "email": "maria@clinic.example",
        "password": PASSWORD,
        "password_again": PASSWORD,
    }
    if token is not None:
        form["csrf_token"] = token
    return form


def test_the_enumeration_sees_the_state_changing_routes(staff_server: StaffServer) -> None:
    routes = unsafe_staff_routes(staff_server)
    assert {("POST", "/staff/login"), ("POST", "/staff/logout")} <= set(routes)
    assert ("POST", "/staff/welcome/{token}") in routes


def test_every_state_changing_route_refuses_a_request_without_the_token(
    staff_server: StaffServer,
) -> None:
    http = staff_server.signed_in("maria@clinic.example")
    wrong = csrf_token(staff_server.signed_in("other@clinic.example").get("/staff"))
    for method, template in unsafe_staff_routes(staff_server):
        path = fill(staff_server, template)
        before = database_state(staff_server.sessions, staff_server.workspace)
        for token in (None, "", wrong):  # none, empty, another session's
            response = http.request(method, path, data=form_for(token))
            assert response.status_code == 403, (method, path, token, response.status_code)
            assert "nothing was done" in response.text
        assert database_state(staff_server.sessions, staff_server.workspace) == before, path
    assert http.get("/staff").status_code == 200  # still signed in: logout did not run


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Origin": "http://127.0.0.1:1"},  # this host, another port: another origin
        {"Referer": "https://evil.example/page"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ],
    ids=["origin", "null-origin", "other-port", "referer", "cross-site", "same-site"],
)
def test_every_state_changing_route_refuses_another_site_even_with_the_token(
    staff_server: StaffServer, headers: dict[str, str]
) -> None:
    http = staff_server.signed_in("maria@clinic.example")
    token = csrf_token(http.get("/staff"))
    for method, template in unsafe_staff_routes(staff_server):
        path = fill(staff_server, template)
        before = database_state(staff_server.sessions, staff_server.workspace)
        response = http.request(method, path, data=form_for(token), headers=headers)
        assert response.status_code == 403, (method, path, response.status_code)
        assert "came from another website" in response.text
        assert database_state(staff_server.sessions, staff_server.workspace) == before, path


def test_the_token_is_taken_from_the_form_field_the_header_or_a_multipart_form(
    staff_server: StaffServer,
) -> None:
    """The other side of the tests above: the same requests with the token do what they do."""
    origin = {"Origin": staff_server.url}
    for how in ("field", "header", "multipart"):
        http = staff_server.signed_in(f"{how}@clinic.example")
        token = csrf_token(http.get("/staff"))
        if how == "field":
            response = http.post("/staff/logout", data={"csrf_token": token}, headers=origin)
        elif how == "header":
            response = http.post("/staff/logout", headers={**origin, "X-CSRF-Token": token})
        else:
            response = http.post(
                "/staff/logout",
                data={"csrf_token": token},
                files={"article": ("a.txt", b"csrf_token=wrong\r\n--x--\r\n", "text/plain")},
            )
        assert response.status_code == 303, (how, response.text)
        assert http.get("/staff").status_code == 303, how  # signed out


def test_login_csrf_is_refused(staff_server: StaffServer) -> None:
    """Another site cannot sign a browser in (to an account of its choosing): the sign-in form
    needs the token from this browser's own form cookie."""
    staff_server.add("maria@clinic.example")
    attacker = staff_server.client()
    their_token = csrf_token(attacker.get("/staff/login"))
    victim = staff_server.client()
    before = database_state(staff_server.sessions, staff_server.workspace)
    credentials = {"email": "maria@clinic.example", "password": PASSWORD}
    for form in (credentials, {**credentials, "csrf_token": their_token}):
        response = victim.post("/staff/login", data=form)
        assert response.status_code == 403
        assert "mailer_staff=" not in response.headers.get("set-cookie", "")
    assert database_state(staff_server.sessions, staff_server.workspace) == before
    # The same browser that opened the page signs in.
    response = attacker.post("/staff/login", data={**credentials, "csrf_token": their_token})
    assert response.status_code == 303


def test_anonymous_posts_change_nothing(staff_server: StaffServer) -> None:
    """Without a session, a POST with a valid sign-in form token (the most an anonymous
    visitor can have) still changes nothing anywhere but on the sign-in pages."""
    http = staff_server.client()
    form_token = csrf_token(http.get("/staff/login"))
    for method, template in unsafe_staff_routes(staff_server):
        if template in ("/staff/login", "/staff/welcome/{token}"):
            continue
        path = fill(staff_server, template)
        before = database_state(staff_server.sessions, staff_server.workspace)
        response = http.request(method, path, data=form_for(form_token))
        assert response.status_code == 403, (method, path, response.status_code)
        assert database_state(staff_server.sessions, staff_server.workspace) == before, path


def test_a_body_too_big_is_refused_before_it_is_read(staff_server: StaffServer) -> None:
    http = staff_server.signed_in("maria@clinic.example")
    token = csrf_token(http.get("/staff"))
    response = http.post(
        "/staff/logout",
        content=b"csrf_token=" + token.encode() + b"&x=" + b"a" * (13 * 1024 * 1024),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 413
    assert http.get("/staff").status_code == 200


def test_htmx_requests_carry_the_token_from_the_layout(staff_server: StaffServer) -> None:
    http = staff_server.signed_in("maria@clinic.example")
    page = http.get("/staff")
    token = csrf_token(page)
    assert f'hx-headers=\'{{"X-CSRF-Token": "{token}"}}\'' in page.text
    assert isinstance(http, httpx.Client)
