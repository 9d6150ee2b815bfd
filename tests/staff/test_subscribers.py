"""The subscriber pages over real HTTP (issue 14 item 1): search, filters and pages; a person's
page with the history of their status; owners add, tag, unsubscribe (the history names them)
and erase (only the hash is kept, as `mailer subscribers delete`); export of the current
filter, formula-safe; editors look but every change is a 403 with nothing changed. SQLite."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable

import httpx
import pytest
from sqlalchemy import select

from mailer.staff.accounts import Role
from mailer.store.db import transaction
from mailer.store.models import SequenceEnrolment, StatusChange, Subscriber, Suppression
from mailer.subscribers.normalize import email_hash
from mailer.subscribers.service import add_subscriber
from tests.staff.conftest import Run, StaffServer, csrf_token, database_state

PEOPLE = [
    ("margaret.lee@example.com", "Margaret", "Lee", ["patient"]),
    ("lee.brown@example.com", "Lee", "Brown", ["patient", "workshop"]),
    ("ana.lopez@example.com", "Ana", "Lopez", []),
    ("formula@example.com", '=HYPERLINK("http://evil.example")', "+Sum", ["lead"]),
]


@pytest.fixture
def listed(staff_server: StaffServer) -> dict[str, int]:
    ids = {}
    with transaction(staff_server.sessions) as session:
        for email, first, last, tags in PEOPLE:
            person = add_subscriber(session, email, first_name=first, last_name=last, tags=tags)
            ids[person.email] = person.id
    return ids


def emails_on(page: httpx.Response) -> list[str]:
    return re.findall(r'<a href="/staff/subscribers/\d+">([^<]+)</a>', page.text)


def test_anonymous_people_are_sent_to_sign_in_and_change_nothing(
    staff_server: StaffServer, listed: dict[str, int]
) -> None:
    http = staff_server.client()
    person = listed["margaret.lee@example.com"]
    for path in (
        "/staff/subscribers",
        f"/staff/subscribers/{person}",
        f"/staff/subscribers/{person}/erase",
        "/staff/subscribers/export.csv",
        "/staff/results",
    ):
        answer = http.get(path)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/staff/login?next=")
    before = database_state(staff_server.sessions, staff_server.workspace)
    answer = http.post(f"/staff/subscribers/{person}/unsubscribe", data={"csrf_token": "x"})
    assert answer.status_code == 403
    assert database_state(staff_server.sessions, staff_server.workspace) == before


def test_search_finds_mrs_lee_by_name_address_or_tag_with_filters_and_pages(
    staff_server: StaffServer, listed: dict[str, int]
) -> None:
    http = staff_server.signed_in("editor@clinic.example", Role.EDITOR)
    page = http.get("/staff/subscribers")
    assert page.status_code == 200
    assert '<label for="q">Search</label>' in page.text
    assert len(emails_on(page)) == len(PEOPLE)
    assert emails_on(http.get("/staff/subscribers", params={"q": "lee"})) == [
        "lee.brown@example.com",
        "margaret.lee@example.com",
    ]
    assert emails_on(http.get("/staff/subscribers", params={"q": "Margaret"})) == [
        "margaret.lee@example.com"
    ]
    assert emails_on(http.get("/staff/subscribers", params={"q": "workshop"})) == [
        "lee.brown@example.com"
    ]
    both = http.get("/staff/subscribers", params={"q": "lee", "tag": "workshop"})
    assert emails_on(both) == ["lee.brown@example.com"]
    nobody = http.get("/staff/subscribers", params={"q": "lee", "status": "bounced"})
    assert emails_on(nobody) == [] and "Nobody matches" in nobody.text
    # A made-up status or page is ignored, never an error.
    odd = http.get("/staff/subscribers", params={"status": "gone", "page": "-3"})
    assert odd.status_code == 200 and len(emails_on(odd)) == len(PEOPLE)
    # htmx asks for the same page and swaps #results.
    swapped = http.get("/staff/subscribers", params={"q": "ana"}, headers={"HX-Request": "true"})
    assert 'id="results"' in swapped.text and emails_on(swapped) == ["ana.lopez@example.com"]


def test_results_come_in_pages(staff_server: StaffServer) -> None:
    with transaction(staff_server.sessions) as session:
        for n in range(55):
            add_subscriber(session, f"reader{n:02d}@example.com")
    http = staff_server.signed_in("editor@clinic.example", Role.EDITOR)
    first = http.get("/staff/subscribers")
    assert len(emails_on(first)) == 50 and "Next page" in first.text
    second = http.get("/staff/subscribers", params={"page": "2"})
    assert len(emails_on(second)) == 5 and "Previous page" in second.text
    assert not set(emails_on(first)) & set(emails_on(second))


def test_did_mrs_lee_unsubscribe_and_when_the_page_and_the_history_say_who(
    staff_server: StaffServer, listed: dict[str, int], mailer: Callable[..., Run]
) -> None:
    person = listed["margaret.lee@example.com"]
    http = staff_server.signed_in("owner@clinic.example")
    page = http.get(f"/staff/subscribers/{person}")
    assert page.status_code == 200 and "added as active" in page.text
    answer = http.post(
        f"/staff/subscribers/{person}/unsubscribe", data={"csrf_token": csrf_token(page)}
    )
    assert answer.status_code == 303
    page = http.get(answer.headers["location"])
    assert "Unsubscribed: they get no more newsletters" in page.text
    assert "active → unsubscribed" in page.text
    assert "unsubscribed by owner@clinic.example on the staff pages" in page.text
    with staff_server.sessions() as session:
        last = session.scalars(
            select(StatusChange)
            .where(StatusChange.subscriber_id == person)
            .order_by(StatusChange.id.desc())
        ).first()
        assert last is not None
        assert (last.new_status, last.source) == ("unsubscribed", "staff:owner@clinic.example")
    listed_by_cli = json.loads(mailer("subscribers", "list", "--json").out)
    status = {row["email"]: row["status"] for row in listed_by_cli}
    assert status["margaret.lee@example.com"] == "unsubscribed"
    # Again: nothing changes, and the page says so.
    again = http.post(
        f"/staff/subscribers/{person}/unsubscribe", data={"csrf_token": csrf_token(page)}
    )
    assert "were unsubscribed already" in http.get(again.headers["location"]).text


def test_owners_add_and_remove_tags_once(staff_server: StaffServer, listed: dict[str, int]) -> None:
    person = listed["ana.lopez@example.com"]
    http = staff_server.signed_in("owner@clinic.example")
    token = csrf_token(http.get(f"/staff/subscribers/{person}"))
    for tag, expected in (("New Patient", "Tag added."), ("new patient", "had that tag already")):
        answer = http.post(
            f"/staff/subscribers/{person}/tags", data={"csrf_token": token, "tag": tag}
        )
        assert expected in http.get(answer.headers["location"]).text
    assert emails_on(http.get("/staff/subscribers", params={"tag": "new patient"})) == [
        "ana.lopez@example.com"
    ]
    bad = http.post(f"/staff/subscribers/{person}/tags", data={"csrf_token": token, "tag": " "})
    assert "is not a tag" in http.get(bad.headers["location"]).text
    answer = http.post(
        f"/staff/subscribers/{person}/tags/remove",
        data={"csrf_token": token, "tag": "new patient"},
    )
    assert "Tag removed." in http.get(answer.headers["location"]).text
    with staff_server.sessions() as session:
        found = session.get(Subscriber, person)
        assert found is not None and found.tag_names == [] and found.status == "active"


def test_owners_add_a_person_with_their_consent(staff_server: StaffServer) -> None:
    http = staff_server.signed_in("owner@clinic.example")
    token = csrf_token(http.get("/staff/subscribers"))
    form = {
        "csrf_token": token,
        "email": "Jane.Doe@Example.com",
        "first_name": "Jane",
        "tags": "patients, workshop",
        "consent": "asked at the front desk",
    }
    refused = http.post("/staff/subscribers/add", data={**form, "consent": " "})
    assert refused.status_code == 400 and "how the person agreed" in refused.text
    refused = http.post("/staff/subscribers/add", data={**form, "email": "jane@"})
    assert refused.status_code == 400 and "is not a usable email address" in refused.text
    added = http.post("/staff/subscribers/add", data=form)
    assert added.status_code == 303
    page = http.get(added.headers["location"])
    assert "Added to the list." in page.text and "patients" in page.text
    with staff_server.sessions() as session:
        person = session.scalars(select(Subscriber)).one()
        assert person.consent_text == "asked at the front desk"
        assert person.consent_source == "staff:owner@clinic.example"
        assert person.tag_names == ["patients", "workshop"]
        # Staff adding someone is joining: the welcome series starts for them (issue 16).
        enrolment = session.get(SequenceEnrolment, (person.id, "welcome"))
        assert enrolment is not None and enrolment.source == "staff-add"
    again = http.post("/staff/subscribers/add", data=form)
    assert again.status_code == 400 and "already on the list" in again.text


def test_erase_asks_first_then_keeps_only_the_hash(
    staff_server: StaffServer, listed: dict[str, int], mailer: Callable[..., Run]
) -> None:
    person = listed["margaret.lee@example.com"]
    http = staff_server.signed_in("owner@clinic.example")
    confirm = http.get(f"/staff/subscribers/{person}/erase")
    assert confirm.status_code == 200 and "Erase for good" in confirm.text
    before = database_state(staff_server.sessions, staff_server.workspace)
    # Without the confirmation field (a bare POST): back to the question, nothing changed.
    answer = http.post(
        f"/staff/subscribers/{person}/erase", data={"csrf_token": csrf_token(confirm)}
    )
    assert answer.headers["location"].endswith("/erase")
    assert database_state(staff_server.sessions, staff_server.workspace) == before
    answer = http.post(
        f"/staff/subscribers/{person}/erase",
        data={"csrf_token": csrf_token(confirm), "confirm": "erase"},
    )
    assert answer.status_code == 303
    assert "Erased." in http.get(answer.headers["location"]).text
    after = database_state(staff_server.sessions, staff_server.workspace)
    assert "margaret" not in repr(after).lower(), "nothing of her is left but the hash"
    with staff_server.sessions() as session:
        assert session.get(Subscriber, person) is None
        hashes = set(session.scalars(select(Suppression.email_hash)))
    assert email_hash("margaret.lee@example.com") in hashes
    assert http.get(f"/staff/subscribers/{person}").status_code == 404
    # As after `mailer subscribers delete`: an import never brings her back.
    path = staff_server.workspace.root / "again.csv"
    path.write_text("Email\nmargaret.lee@example.com\n", encoding="utf-8")
    run = mailer("subscribers", "import", str(path), "--json")
    assert json.loads(run.out)["kept_suppressed"] == 1


def test_export_is_the_current_filter_and_formula_safe(
    staff_server: StaffServer, listed: dict[str, int]
) -> None:
    http = staff_server.signed_in("owner@clinic.example")
    whole = http.get("/staff/subscribers/export.csv")
    assert whole.status_code == 200
    assert whole.headers["content-type"].startswith("text/csv")
    assert "attachment" in whole.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(whole.content.decode("utf-8-sig"))))
    assert len(rows) == len(PEOPLE)
    formula = next(row for row in rows if "lead" in row["Tags"])
    assert formula["First Name"].startswith("'=") and formula["Last Name"] == "'+Sum"
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row.values())
    patients = http.get("/staff/subscribers/export.csv", params={"q": "lee", "tag": "workshop"})
    rows = list(csv.DictReader(io.StringIO(patients.content.decode("utf-8-sig"))))
    assert [row["Email"] for row in rows] == ["lee.brown@example.com"]
    page = http.get("/staff/subscribers", params={"q": "lee", "tag": "workshop"})
    assert "/staff/subscribers/export.csv?q=lee&amp;tag=workshop" in page.text


def test_editors_look_but_every_change_is_refused_with_nothing_changed(
    staff_server: StaffServer, listed: dict[str, int]
) -> None:
    person = listed["margaret.lee@example.com"]
    http = staff_server.signed_in("editor@clinic.example", Role.EDITOR)
    page = http.get(f"/staff/subscribers/{person}")
    assert page.status_code == 200 and "Only an owner" in page.text
    assert (
        "Unsubscribe</button>" not in page.text
        and "CSV file" not in http.get("/staff/subscribers").text
    )
    token = csrf_token(page)
    before = database_state(staff_server.sessions, staff_server.workspace)
    changes = [
        ("/staff/subscribers/add", {"email": "new@example.com", "consent": "asked"}),
        (f"/staff/subscribers/{person}/tags", {"tag": "vip"}),
        (f"/staff/subscribers/{person}/tags/remove", {"tag": "patient"}),
        (f"/staff/subscribers/{person}/unsubscribe", {}),
        (f"/staff/subscribers/{person}/erase", {"confirm": "erase"}),
    ]
    for path, form in changes:
        answer = http.post(path, data={"csrf_token": token, **form})
        assert answer.status_code == 403, path
        assert "Only an owner can do this" in answer.text
    upload = http.post(
        "/staff/subscribers/import",
        data={"csrf_token": token},
        files={"file": ("list.csv", b"Email\nnew@example.com\n", "text/csv")},
    )
    assert upload.status_code == 403
    for path in (f"/staff/subscribers/{person}/erase", "/staff/subscribers/export.csv"):
        assert http.get(path).status_code == 403, path
    assert database_state(staff_server.sessions, staff_server.workspace) == before
    assert not list((staff_server.workspace.subscribers_dir).glob("web-imports/*/*"))
