"""`mailer staff add/list/remove/reset` (issue 13 item 1) as an owner runs them, and the link
`add` prints working in the served pages. SQLite."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest

from mailer.workspace import Workspace
from tests.staff.conftest import PASSWORD, Clock, Run, StaffServer, sign_in, start_server

LINK = re.compile(r"^(http://127\.0\.0\.1:8000)/staff/welcome/([A-Za-z0-9_-]+)$", re.M)


@pytest.fixture
def server(sqlite_workspace: Workspace) -> Iterator[StaffServer]:
    """The pages on the wall clock, as the commands are: the links they make are for now."""
    yield from start_server(sqlite_workspace, Clock(datetime.now(UTC)))


def test_add_prints_a_one_time_link_that_sets_the_password(
    mailer: Callable[..., Run], server: StaffServer
) -> None:
    added = mailer("staff", "add", "Maria@Clinic.example", "--role", "owner", "--name", "Maria")
    assert added.code == 0, added.err
    found = LINK.search(added.out)
    assert found, added.out
    assert "works once, until" in added.out
    http = server.client()
    path = f"/staff/welcome/{found.group(2)}"
    page = http.get(path)
    assert page.status_code == 200 and "Maria@clinic.example" in page.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    done = http.post(
        path,
        data={"csrf_token": token.group(1), "password": PASSWORD, "password_again": PASSWORD},
    )
    assert done.status_code == 303
    assert sign_in(http, "maria@clinic.example", PASSWORD).status_code == 303

    listed = mailer("staff", "list", "--json")
    assert listed.code == 0
    (account,) = json.loads(listed.out)["accounts"]
    assert account["email"] == "Maria@clinic.example" and account["role"] == "owner"
    assert account["password_set"] is True and account["sessions"] == 1
    assert account["link_valid_until"] is None and account["created_by"].startswith("cli:")


def test_add_with_password_stdin_refuses_weak_passwords_and_duplicates(
    mailer: Callable[..., Run], server: StaffServer
) -> None:
    weak = mailer(
        "staff",
        "add",
        "desk@clinic.example",
        "--role",
        "editor",
        "--password-stdin",
        stdin="password1234\n",
    )
    assert weak.code == 1 and "most common passwords" in weak.err
    assert json.loads(mailer("staff", "list", "--json").out) == {"accounts": []}
    ok = mailer(
        "staff",
        "add",
        "desk@clinic.example",
        "--role",
        "EDITOR",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert ok.code == 0 and "/staff/welcome/" not in ok.out
    assert sign_in(server.client(), "desk@clinic.example", PASSWORD).status_code == 303
    again = mailer("staff", "add", "DESK@clinic.example", "--role", "owner")
    assert again.code == 1
    assert "has a staff account already" in again.err and "mailer staff reset" in again.err
    bad_role = mailer("staff", "add", "x@clinic.example", "--role", "admin")
    assert bad_role.code == 2


def test_remove_signs_out_at_once_and_reset_stops_the_old_password(
    mailer: Callable[..., Run], server: StaffServer
) -> None:
    for email in ("maria@clinic.example", "desk@clinic.example"):
        assert (
            mailer(
                "staff", "add", email, "--role", "editor", "--password-stdin", stdin=PASSWORD
            ).code
            == 0
        )
    maria, desk = server.client(), server.client()
    assert sign_in(maria, "maria@clinic.example", PASSWORD).status_code == 303
    assert sign_in(desk, "desk@clinic.example", PASSWORD).status_code == 303

    removed = mailer("staff", "remove", "MARIA@clinic.example")
    assert removed.code == 0 and "1 signed-in browser signed out" in removed.out
    assert maria.get("/staff").status_code == 303
    assert sign_in(maria, "maria@clinic.example", PASSWORD).status_code == 400

    reset = mailer("staff", "reset", "desk@clinic.example", "--json")
    assert reset.code == 0
    document = json.loads(reset.out)
    assert document["sessions_ended"] == 1 and LINK.match(document["link"])
    assert desk.get("/staff").status_code == 303
    assert sign_in(server.client(), "desk@clinic.example", PASSWORD).status_code == 400

    unknown = mailer("staff", "remove", "nobody@clinic.example")
    assert unknown.code == 1 and "no staff account for nobody@clinic.example" in unknown.err


def test_a_link_for_a_public_server_needs_the_secret_key(
    mailer: Callable[..., Run], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MAILER_SECRET_KEY")
    monkeypatch.setenv("MAILER_WEB__BASE_URL", "https://news.clinic.example")
    refused = mailer("staff", "add", "maria@clinic.example", "--role", "owner")
    assert refused.code == 2 and "MAILER_SECRET_KEY is not set" in refused.err
    assert json.loads(mailer("staff", "list", "--json").out) == {"accounts": []}
