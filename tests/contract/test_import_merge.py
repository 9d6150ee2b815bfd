"""A CSV import merges into the list (subscribers/csv_import.py: bulk statements that differ per
database), on SQLite and PostgreSQL: new people added, names and tags of people on the list
merged, and the row of anyone unsubscribed, bounced or complained left as it is: never made
active again by a file (only `mailer subscribers resubscribe` brings a person back)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from mailer.events.ingest import ingest
from mailer.events.sources.sendgrid import read_events
from mailer.store.models import Subscriber
from mailer.subscribers.csv_import import import_csv
from mailer.subscribers.service import add_subscriber, unsubscribe
from tests.contract.conftest import Backend

PEOPLE = ("ann", "ben", "cat", "dan")


def statuses(backend: Backend) -> dict[str, tuple[str, str, list[str]]]:
    with backend.sessions() as session:
        return {
            s.email.split("@")[0]: (s.status, s.first_name, s.tag_names)
            for s in session.scalars(select(Subscriber).order_by(Subscriber.email))
        }


def test_an_import_merges_and_never_lifts_a_suppression(backend: Backend, tmp_path: Path) -> None:
    with backend.sessions() as session, session.begin():
        ids = {
            name: add_subscriber(session, f"{name}@example.com", tags=["patients"]).id
            for name in PEOPLE
        }
        unsubscribe(session, "ben@example.com", source="contract")
    events = [
        {"event": "bounce", "type": "bounce", "sg_event_id": "b1", "subscriber_id": ids["cat"]},
        {"event": "spamreport", "sg_event_id": "s1", "subscriber_id": ids["dan"]},
    ]
    ingest(backend.sessions, read_events(events))
    csv = tmp_path / "export.csv"
    csv.write_text(
        "Email,First Name,Tags,Status\n"
        + "".join(f"{name}@example.com,{name.title()},workshop,subscribed\n" for name in PEOPLE)
        + "eve@example.com,Eve,workshop,subscribed\n",
        encoding="utf-8",
    )

    report = import_csv(backend.sessions, csv, tags=["spring"])

    assert (report.imported, report.updated, report.rejected) == (1, 1, 0)
    assert report.kept_suppressed == 3
    both = ["patients", "spring", "workshop"]
    assert statuses(backend) == {
        "ann": ("active", "Ann", both),
        "ben": ("unsubscribed", "", ["patients"]),  # kept as they were, off the list
        "cat": ("bounced", "", ["patients"]),
        "dan": ("complained", "", ["patients"]),
        "eve": ("active", "Eve", ["spring", "workshop"]),
    }
    again = import_csv(backend.sessions, csv, tags=["spring"])
    assert (again.imported, again.updated, again.unchanged) == (0, 0, 2)
    assert again.kept_suppressed == 3
