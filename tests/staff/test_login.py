"""Sign-in, sessions and the staff pages over real HTTP (issue 13 items 2 and 9): the same
answer for a wrong password and an unknown address, 429 after 5 failures, coming back to the
page asked for (never to another site), sign-out, `staff remove` and idle expiry, roles,
the set-password link, security headers and cookie flags. SQLite, an injected clock."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest

from mailer.staff import accounts, invites
from mailer.staff.accounts import Role
from mailer.store.db import transaction
from mailer.workspace import Workspace
from tests.staff.conftest import (
    IDLE,
    PASSWORD,
    Clock,
    StaffServer,
    csrf_token,
    database_state,
    sign_in,
    start_server,
)


def without_token(page: httpx.Response) -> str:
    return page.text.replace(csrf_token(page), "TOKEN")


def test_a_wrong_password_says_so_without_telling_whether_the_address_exists(
    staff_server: StaffServer,
) -> None:
    staff_server.add("maria@clinic.example")
    pages = []
    for email in ("maria@clinic.example", "nobody@clinic.example"):
        response = sign_in(staff_server.client(), email, "not the password at all")
        assert response.status_code == 400
        assert "That email and password do not match a staff account" in response.text
        assert "mailer_staff=" not in response.headers.get("set-cookie", "")
        pages.append(without_token(response).replace(email, "EMAIL"))
    assert pages[0] == pages[1]


def test_after_5_failures_in_15_minutes_even_the_right_password_waits(
    staff_server: StaffServer,
) -> None:
    staff_server.add("maria@clinic.example")
    http = staff_server.client()
    for _ in range(5):
        assert sign_in(http, "maria@clinic.example", "not the password at all").status_code == 400
        staff_server.clock.advance(minutes=1)
    refused = sign_in(http, "maria@clinic.example", PASSWORD)
    assert refused.status_code == 429
    assert "Too many attempts: wait 11 minutes" in refused.text
    assert refused.headers["retry-after"] == "601"  # the first failure leaves at minute 15
    assert "mailer_staff=" not in refused.headers.get("set-cookie", "")
    staff_server.clock.advance(minutes=11)
    assert sign_in(http, "maria@clinic.example", PASSWORD).status_code == 303
    assert http.get("/staff").status_code == 200


def test_an_anonymous_get_goes_to_sign_in_and_comes_back_after(
    staff_server: StaffServer,
) -> None:
    staff_server.add("maria@clinic.example")
    http = staff_server.client()
    for path in ("/staff", "/staff/accounts", "/staff/accounts?sort=role&x=%2F"):
        response = http.get(path)
        assert response.status_code == 303
        assert response.headers["location"] == f"/staff/login?next={quote(path, safe='/')}"
    asked = http.get("/staff/accounts").headers["location"]
    assert asked == "/staff/login?next=/staff/accounts"
    page = http.get(asked)
    assert 'name="next" value="/staff/accounts"' in page.text
    response = http.post(
        "/staff/login",
        data={
            "csrf_token": csrf_token(page),
            "email": "Maria@Clinic.example",
            "password": PASSWORD,
            "next": "/staff/accounts",
        },
    )
    assert response.status_code == 303 and response.headers["location"] == "/staff/accounts"
    assert "maria@clinic.example" in http.get("/staff/accounts").text
    # Signed in already: the sign-in page goes straight on.
    assert http.get("/staff/login?next=/staff").headers["location"] == "/staff"


@pytest.mark.parametrize(
    "next_",
    [
        "https://evil.example/staff",
        "//evil.example/staff",
        "/\\evil.example",
        "/staff\\@evil.example",
        "javascript:alert(1)",
        "/archive",
        "/staff\n/x",
    ],
)
def test_an_off_site_next_is_refused(staff_server: StaffServer, next_: str) -> None:
    staff_server.add("maria@clinic.example")
    response = sign_in(staff_server.client(), "maria@clinic.example", PASSWORD, next=next_)
    assert response.status_code == 303
    assert response.headers["location"] == "/staff"


def test_sign_out_and_staff_remove_end_the_session_at_once(staff_server: StaffServer) -> None:
    http = staff_server.signed_in("maria@clinic.example")
    stolen = dict(http.cookies)  # a copy of the cookie, as if taken from the browser
    page = http.get("/staff")
    assert page.status_code == 200 and "Sign out" in page.text
    out = http.post("/staff/logout", data={"csrf_token": csrf_token(page)})
    assert out.status_code == 303 and out.headers["location"] == "/staff/login?done=out"
    assert "You are signed out." in http.get(out.headers["location"]).text
    replay = staff_server.client()
    replay.cookies.update(stolen)
    assert replay.get("/staff").status_code == 303  # the old cookie signs nobody in

    desk = staff_server.signed_in("desk@clinic.example", Role.EDITOR)
    assert desk.get("/staff").status_code == 200
    with transaction(staff_server.sessions) as db:
        accounts.remove(db, "desk@clinic.example")
    assert desk.get("/staff").status_code == 303


def test_an_idle_session_expires(staff_server: StaffServer) -> None:
    http = staff_server.signed_in("maria@clinic.example")
    staff_server.clock.advance(seconds=IDLE.total_seconds() - 60)
    assert http.get("/staff").status_code == 200  # in use: kept alive
    staff_server.clock.advance(seconds=IDLE.total_seconds() - 60)
    assert http.get("/staff").status_code == 200
    staff_server.clock.advance(seconds=IDLE.total_seconds())
    expired = http.get("/staff")
    assert expired.status_code == 303 and expired.headers["location"].startswith("/staff/login")
    assert 'mailer_staff=""' in expired.headers["set-cookie"]  # and the browser forgets it


def test_a_tampered_session_cookie_is_nobody(staff_server: StaffServer) -> None:
    http = staff_server.signed_in("maria@clinic.example")
    value = http.cookies["mailer_staff"]
    other = staff_server.client()
    other.cookies.set("mailer_staff", value[:-4] + ("AAAA" if value[-4:] != "AAAA" else "BBBB"))
    assert other.get("/staff").status_code == 303


def test_an_editor_gets_a_403_page_from_an_owner_page(staff_server: StaffServer) -> None:
    editor = staff_server.signed_in("desk@clinic.example", Role.EDITOR)
    page = editor.get("/staff/accounts")
    assert page.status_code == 403
    assert "Only an owner can do this" in page.text
    assert 'href="/staff/accounts"' not in editor.get("/staff").text  # no "Staff" link shown
    owner = staff_server.signed_in("maria@clinic.example", Role.OWNER)
    listed = owner.get("/staff/accounts")
    assert listed.status_code == 200
    assert "desk@clinic.example" in listed.text and "editor" in listed.text


def test_the_set_password_link_in_the_browser(staff_server: StaffServer) -> None:
    with transaction(staff_server.sessions) as db:
        row = accounts.add(db, "new@clinic.example", Role.EDITOR, now=staff_server.clock())
        token = invites.issue(db, row, staff_server.app.state.context.key, now=staff_server.clock())
    http = staff_server.client()
    before = database_state(staff_server.sessions, staff_server.workspace)
    page = http.get(f"/staff/welcome/{token}")
    assert page.status_code == 200 and "new@clinic.example" in page.text
    assert database_state(staff_server.sessions, staff_server.workspace) == before  # GET: nothing
    form = {"csrf_token": csrf_token(page), "password": "password1234", "password_again": ""}
    weak = http.post(f"/staff/welcome/{token}", data={**form, "password_again": "password1234"})
    assert weak.status_code == 400 and "most common passwords" in weak.text
    differ = http.post(f"/staff/welcome/{token}", data={**form, "password": PASSWORD})
    assert differ.status_code == 400 and "not the same" in differ.text
    done = http.post(
        f"/staff/welcome/{token}",
        data={**form, "password": PASSWORD, "password_again": PASSWORD},
    )
    assert done.status_code == 303 and done.headers["location"] == "/staff/login?done=password"
    assert "Your password is set" in http.get(done.headers["location"]).text
    again = http.get(f"/staff/welcome/{token}")
    assert again.status_code == 410 and "does not work any more" in again.text
    assert sign_in(http, "new@clinic.example", PASSWORD).status_code == 303


def test_staff_pages_send_security_headers_and_careful_cookies(
    staff_server: StaffServer,
) -> None:
    http = staff_server.client()
    page = http.get("/staff/login")
    csp = page.headers["content-security-policy"]
    directives = dict(part.strip().split(" ", 1) for part in csp.split(";"))
    assert directives["script-src"] == "'self'"
    assert "unsafe" not in csp
    assert directives["frame-src"] == "'self'" and directives["frame-ancestors"] == "'none'"
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-content-type-options"] == "nosniff"  # the app-wide ones too
    # Under no-referrer a browser sends "Origin: null" with our own forms (refused as foreign).
    assert page.headers["referrer-policy"] == "same-origin"
    assert "<script>" not in page.text and " style=" not in page.text and "<style" not in page.text
    form_cookie = page.headers["set-cookie"]
    assert "HttpOnly" in form_cookie and "SameSite=lax" in form_cookie
    assert "Path=/staff" in form_cookie and "Secure" not in form_cookie  # base_url is http
    signed_in = staff_server.signed_in("maria@clinic.example")
    assert signed_in.cookies.jar  # (the session cookie was kept by the client)
    cookie = next(c for c in signed_in.cookies.jar if c.name == "mailer_staff")
    assert cookie.path == "/staff" and not cookie.secure
    assert cookie.has_nonstandard_attr("HttpOnly") and cookie.expires is None
    static = http.get("/staff/static/vendor/htmx.min.js")
    assert static.status_code == 200 and "no-store" not in static.headers.get("cache-control", "")
    theme = http.get("/staff/theme.css")
    assert theme.headers["content-type"].startswith("text/css") and "--brand: #" in theme.text
    public = http.get("/subscribe")  # the public pages keep their own policy
    assert "script-src" not in public.headers["content-security-policy"]


@pytest.fixture
def https_server(
    sqlite_workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> Iterator[StaffServer]:
    monkeypatch.setenv("MAILER_WEB__BASE_URL", "https://news.clinic.example")
    yield from start_server(Workspace(sqlite_workspace.root), Clock())


def test_cookies_are_secure_when_base_url_is_https(https_server: StaffServer) -> None:
    https_server.add("maria@clinic.example")
    http = https_server.client()
    page = http.get("/staff/login")
    assert "Secure" in page.headers["set-cookie"]
    # The client keeps Secure cookies for https only: send the form cookie by hand.
    token = csrf_token(page)
    form_cookie = page.headers["set-cookie"].split(";")[0]
    response = httpx.post(
        f"{https_server.url}/staff/login",
        data={"csrf_token": token, "email": "maria@clinic.example", "password": PASSWORD},
        headers={"Cookie": form_cookie, "Origin": "https://news.clinic.example"},
    )
    assert response.status_code == 303
    session_cookie = next(
        value
        for value in response.headers.get_list("set-cookie")
        if value.startswith("mailer_staff=")
    )
    assert "Secure" in session_cookie and "HttpOnly" in session_cookie
