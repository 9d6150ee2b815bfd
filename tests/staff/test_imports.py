"""Importing a CSV file from the staff pages over real HTTP (issue 14 item 2): a dry run that
writes nothing and counts as `mailer subscribers import --dry-run` does, then the real import in
the background with its progress, the same counts as the CLI, the rejected rows to download
with line and reason; bad files told in words (never a 500), too big refused, one import per
dry run. SQLite."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from mailer.app.imports import ImportRunner, read_job
from mailer.store.db import transaction
from mailer.store.models import Subscriber, utcnow
from mailer.store.staff_models import ImportJob
from mailer.subscribers.service import add_subscriber, delete_subscriber
from mailer.workspace import Workspace
from tests.staff.conftest import Clock, Run, StaffServer, csrf_token, database_state, start_server

DAY = timedelta(days=1)
LIST = (
    "Email,First Name,Last Name,Tags\r\n"
    "margaret.lee@example.com,Margaret,Lee,patient\r\n"
    "not-an-address,Bad,Row,\r\n"
    "ana.lopez@example.com,Ana,Lopez,\r\n"
    "gone@example.com,Erased,Person,\r\n"
    "known@example.com,Known,Better-Name,\r\n"
)


def upload(http: httpx.Client, content: bytes, name: str = "patients.csv", **fields: str):
    token = csrf_token(http.get("/staff/subscribers"))
    return http.post(
        "/staff/subscribers/import",
        data={"csrf_token": token, **fields},
        files={"file": (name, content, "text/csv")},
    )


def finished(http: httpx.Client, url: str, timeout: float = 30) -> httpx.Response:
    """The job's page once its status fragment stops polling."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        fragment = http.get(url + "/progress")
        assert fragment.status_code == 200
        if "hx-trigger" not in fragment.text:
            return http.get(url)
        time.sleep(0.1)
    raise AssertionError(f"{url} did not finish")


def counts(page: httpx.Response) -> dict[str, int]:
    import re

    found = re.findall(r'data-count="([a-z_]+)">([\d,]+)<', page.text)
    return {key: int(value.replace(",", "")) for key, value in found}


@pytest.fixture
def known(staff_server: StaffServer) -> None:
    with transaction(staff_server.sessions) as session:
        add_subscriber(session, "known@example.com", first_name="Known")
        add_subscriber(session, "gone@example.com")
        delete_subscriber(session, "gone@example.com")


def test_dry_run_then_import_with_the_clis_counts_and_the_rejects_to_download(
    staff_server: StaffServer, known: None, mailer: Callable[..., Run], tmp_path: Path
) -> None:
    csv_path = tmp_path / "patients.csv"
    csv_path.write_text(LIST, encoding="utf-8")
    cli = json.loads(mailer("subscribers", "import", str(csv_path), "--dry-run", "--json").out)
    http = staff_server.signed_in("owner@clinic.example")
    page = http.get("/staff/subscribers")
    assert 'for="csv-file">CSV file</label>' in page.text and ">Import</button>" in page.text

    before = database_state(staff_server.sessions, staff_server.workspace)
    answer = upload(http, LIST.encode(), tag="spring-2026")
    assert answer.status_code == 303
    job_url = answer.headers["location"]
    dry = finished(http, job_url)
    assert "Dry run finished: nothing was written." in dry.text
    expected = {
        key: cli[key] for key in ("imported", "updated", "unchanged", "kept_suppressed", "rejected")
    }
    assert expected == {
        "imported": 2,
        "updated": 1,
        "unchanged": 0,
        "kept_suppressed": 1,
        "rejected": 1,
    }
    assert {k: v for k, v in counts(dry).items() if k in expected} == expected
    assert "invalid address" in dry.text and '<td data-label="Line">3</td>' in dry.text
    after = database_state(staff_server.sessions, staff_server.workspace)
    del before["import_jobs"], after["import_jobs"]
    assert after == before, "a dry run writes nothing to the list"

    run = http.post(job_url + "/run", data={"csrf_token": csrf_token(dry)})
    assert run.status_code == 303
    import_url = run.headers["location"]
    assert import_url != job_url
    # A second press (a double click) leads to the same import.
    again = http.post(job_url + "/run", data={"csrf_token": csrf_token(dry)})
    assert again.headers["location"] == import_url
    done = finished(http, import_url)
    assert "Import finished." in done.text
    assert {k: v for k, v in counts(done).items() if k in expected} == expected
    with staff_server.sessions() as session:
        people = {p.email: p for p in session.scalars(select(Subscriber))}
        assert set(people) == {
            "margaret.lee@example.com",
            "ana.lopez@example.com",
            "known@example.com",
        }
        assert people["known@example.com"].last_name == "Better-Name"
        assert "spring-2026" in people["ana.lopez@example.com"].tag_names
        assert len(list(session.scalars(select(ImportJob)))) == 2

    rejects = http.get(import_url + "/rejects.csv")
    assert rejects.status_code == 200
    assert "attachment" in rejects.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(rejects.content.decode("utf-8-sig"))))
    assert rows[0] == ["line", "reason", "email"]
    assert rows[1][0] == "3" and "invalid address" in rows[1][1]
    assert rows[1][2] == "not-an-address"
    # The uploaded file (personal data) is gone once imported; the rejects are kept.
    folder = staff_server.workspace.subscribers_dir / "web-imports" / job_url.rsplit("/", 1)[1]
    assert sorted(p.name for p in folder.iterdir()) == ["patients.rejects.csv"]
    # The same file from the CLI now changes nothing: the browser import was the same import.
    cli_again = json.loads(mailer("subscribers", "import", str(csv_path), "--json").out)
    assert cli_again["imported"] == 0 and cli_again["updated"] == 0


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"PK\x03\x04\x00\x00binary", "is a binary file, not a CSV"),
        (b"Name,Phone\r\nAna,555\r\n", "email"),
        (b"Email\r\nana@example.com\r\n\xff\xfe\r\n", "is not UTF-8 text"),
        (b"", "empty"),
    ],
    ids=["binary", "no-email-column", "not-utf8", "empty"],
)
def test_a_bad_file_is_told_in_words_and_nothing_is_written(
    staff_server: StaffServer, content: bytes, says: str
) -> None:
    http = staff_server.signed_in("owner@clinic.example")
    answer = upload(http, content, name="../../etc/list.csv")
    assert answer.status_code == 303
    page = finished(http, answer.headers["location"])
    assert page.status_code == 200
    assert "The file was not imported" in page.text and says in page.text
    assert "/web-imports/" not in page.text, "the server's paths are not shown"
    assert "Import now" not in page.text
    with staff_server.sessions() as session:
        assert session.scalars(select(Subscriber)).first() is None
    assert not list(staff_server.workspace.subscribers_dir.glob("web-imports/*/*.csv"))


def test_no_file_or_a_broken_form_is_a_400_not_a_500(staff_server: StaffServer) -> None:
    http = staff_server.signed_in("owner@clinic.example")
    token = csrf_token(http.get("/staff/subscribers"))
    empty = http.post(
        "/staff/subscribers/import",
        data={"csrf_token": token},
        files={"file": ("", b"", "application/octet-stream")},
    )
    assert empty.status_code == 400 and "choose a CSV file first" in empty.text
    cut = http.post(
        "/staff/subscribers/import",
        content=b'--b\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n'
        + token.encode()
        + b"\r\n--b\r\n"
        + b'Content-Disposition: form-data; name="file"; filename="a.csv"\r\n\r\nEmail\r\n',
        headers={"Content-Type": "multipart/form-data; boundary=b"},
    )
    assert cut.status_code == 400 and "cut short" in cut.text
    plain = http.post(
        "/staff/subscribers/import", data={"csrf_token": token}, headers={"X-CSRF-Token": token}
    )
    assert plain.status_code == 400 and "not a file upload form" in plain.text
    assert not list(staff_server.workspace.subscribers_dir.glob("web-imports/*"))


def test_a_file_over_the_cap_is_refused_before_it_is_stored(
    sqlite_workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAILER_STAFF__UPLOAD_MAX_MB", "1")
    for server in start_server(Workspace(sqlite_workspace.root), Clock()):
        http = server.signed_in("owner@clinic.example")
        big = b"Email\r\n" + b"someone@example.com\r\n" * 60_000  # 1.2 MB
        declared = upload(http, big)
        assert declared.status_code == 413 and "bigger than 1 MB" in declared.text

        token = csrf_token(http.get("/staff/subscribers"))

        def chunks(big: bytes = big, token: str = token) -> Iterator[bytes]:
            # No Content-Length: the reader counts the bytes itself.
            yield b'--b\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n'
            yield token.encode() + b"\r\n--b\r\n"
            yield b'Content-Disposition: form-data; name="file"; filename="a.csv"\r\n\r\n'
            for start in range(0, len(big), 65536):
                yield big[start : start + 65536]
            yield b"\r\n--b--\r\n"

        streamed = http.post(
            "/staff/subscribers/import",
            content=chunks(),
            headers={"Content-Type": "multipart/form-data; boundary=b"},
        )
        assert streamed.status_code == 413 and "bigger than 1 MB" in streamed.text
        assert not list(server.workspace.subscribers_dir.glob("web-imports/*"))
        with server.sessions() as session:
            assert session.scalars(select(ImportJob)).first() is None


def test_the_token_may_come_in_the_header_as_htmx_sends_it(staff_server: StaffServer) -> None:
    http = staff_server.signed_in("owner@clinic.example")
    token = csrf_token(http.get("/staff/subscribers"))
    answer = http.post(
        "/staff/subscribers/import",
        files={"file": ("list.csv", b"Email\r\nana@example.com\r\n", "text/csv")},
        headers={"X-CSRF-Token": token},
    )
    assert answer.status_code == 303
    assert "Would be added" in finished(http, answer.headers["location"]).text
    # The token in the body but not first: refused (the guard reads only the form's start).
    late = http.post(
        "/staff/subscribers/import",
        content=b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n\r\n'
        b"Email\r\nana@example.com\r\n"
        b'--b\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n'
        + token.encode()
        + b"\r\n--b--\r\n",
        headers={"Content-Type": "multipart/form-data; boundary=b"},
    )
    assert late.status_code == 403


def test_a_job_whose_server_stopped_shows_as_stopped(staff_server: StaffServer) -> None:
    http = staff_server.signed_in("owner@clinic.example")
    answer = upload(http, b"Email\r\nana@example.com\r\n")
    job_id = answer.headers["location"].rsplit("/", 1)[1]
    finished(http, answer.headers["location"])
    with transaction(staff_server.sessions) as session:
        row = session.get(ImportJob, job_id)
        assert row is not None
        row.state = "running"
        row.updated_at = utcnow().replace(year=2025)
    job = read_job(staff_server.sessions, job_id, utcnow())
    assert job is not None and job.stopped and job.finished
    page = http.get(answer.headers["location"])
    assert "the server was restarted while it ran" in page.text
    assert http.get("/staff/subscribers/imports/" + "0" * 32).status_code == 404
    assert http.get("/staff/subscribers/imports/nonsense").status_code == 404


def test_uploads_and_rejects_are_not_kept_longer_than_the_page_needs_them(
    staff_server: StaffServer,
) -> None:
    http = staff_server.signed_in("owner@clinic.example")
    answer = upload(http, b"Email\r\nana@example.com\r\n")
    job_id = answer.headers["location"].rsplit("/", 1)[1]
    finished(http, answer.headers["location"])
    folder = staff_server.workspace.subscribers_dir / "web-imports" / job_id
    assert (folder / "patients.csv").is_file()  # kept for "Import now"
    later = ImportRunner(staff_server.workspace, staff_server.sessions, lambda: utcnow() + DAY * 2)
    later.remove_old()
    assert not (folder / "patients.csv").exists(), "a dry run left alone: its file goes"
    assert read_job(staff_server.sessions, job_id, utcnow()) is not None
    week = ImportRunner(staff_server.workspace, staff_server.sessions, lambda: utcnow() + DAY * 8)
    week.remove_old()
    assert not folder.exists()
    assert read_job(staff_server.sessions, job_id, utcnow()) is None
