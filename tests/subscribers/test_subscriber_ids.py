"""Issue 10 item 11: subscriber ids are never reused, so an erased person's old links and the
provider's events about them act on nobody, never on the next person to sign up. On SQLite
(AUTOINCREMENT, through the real migration of a database made at the previous revision) and
PostgreSQL (its sequence)."""

from __future__ import annotations

import os
from typing import Any

import httpx
import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, delete, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from mailer.events.ingest import ingest
from mailer.events.sources.sendgrid import read_events
from mailer.store.db import _alembic_config, make_engine, session_factory, upgrade_schema
from mailer.store.models import (
    CampaignRun,
    Click,
    Delivery,
    Event,
    StatusChange,
    Subscriber,
    SubscriberTag,
    utcnow,
)
from mailer.subscribers.service import add_subscriber, delete_subscriber, suppress_hash
from tests.cli_runner import Mailer
from tests.web_sending import send_campaign
from tests.web_server import LiveServer

ANA, BEN, CARLA = "ana@example.com", "ben@example.com", "carla@example.com"
ONE_CLICK = {"content-type": "application/x-www-form-urlencoded"}


@pytest.mark.both_databases
@pytest.mark.slow
def test_an_erased_persons_links_never_act_on_the_next_person(
    mailer: Mailer, live_server: LiveServer, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 10 item 11: erase the newest subscriber (`mailer subscribers delete`), add the
    next (`mailer subscribers add`): the new id is a new number, and the erased person's
    unsubscribe link, click link and SendGrid events leave the new person untouched."""
    sent = send_campaign(live_server, database_url, monkeypatch)
    ben_id = sent.ids[BEN]
    assert ben_id == max(sent.ids.values())  # the newest: SQLite used to hand this id out again
    unsubscribe = sent.unsubscribe_url(BEN)
    click = sent.click_urls(BEN)[0]

    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILER_")}
    env["MAILER_DATABASE__URL"] = database_url
    env["MAILER_SECRET_KEY"] = "test-secret-key-0123456789abcdef"
    erased = mailer("subscribers", "delete", BEN, workspace=sent.workspace, env=env, process=True)
    assert erased.exit_code == 0, erased.stderr
    added = mailer(
        "subscribers",
        "add",
        CARLA,
        "--first-name",
        "Carla",
        workspace=sent.workspace,
        env=env,
        process=True,
    )
    assert added.exit_code == 0, added.stderr
    with sent.sessions() as session:
        carla = session.scalars(select(Subscriber).where(Subscriber.email_key == CARLA)).one()
    assert carla.id != ben_id and carla.id > ben_id

    assert httpx.get(unsubscribe).status_code == 404
    post = httpx.post(unsubscribe, content=b"List-Unsubscribe=One-Click", headers=ONE_CLICK)
    assert post.status_code == 404 and "not valid" in post.text
    assert httpx.post(unsubscribe, data={}).status_code == 404
    assert httpx.get(click).status_code == 302  # the link still works, for nobody in particular
    ingest(
        sent.sessions,
        read_events(
            [
                {
                    "event": "spamreport",
                    "sg_event_id": "late-complaint",
                    "timestamp": 1_800_000_000,
                    "subscriber_id": str(ben_id),
                    "campaign_slug": sent.slug,
                }
            ]
        ),
    )
    with sent.sessions() as session:
        carla = session.scalars(select(Subscriber).where(Subscriber.email_key == CARLA)).one()
        assert carla.status == "active"
        assert session.scalars(select(Click.subscriber_id)).all() == [None]
        assert session.scalars(select(StatusChange.subscriber_id).where(
            StatusChange.subscriber_id == carla.id, StatusChange.new_status != "active"
        )).all() == []  # fmt: skip


def _previous_revision() -> str:
    """The revision before this migration (whatever it is once the branches are merged)."""
    engine = make_engine("sqlite://")
    try:
        script = ScriptDirectory.from_config(_alembic_config(engine))
    finally:
        engine.dispose()
    previous = script.get_revision("0410").down_revision
    assert isinstance(previous, str)
    return previous


def _snapshot(engine: Engine) -> dict[str, Any]:
    tables = ("subscribers", "subscriber_tags", "status_changes", "deliveries", "events", "clicks")
    with engine.connect() as connection:
        return {
            name: sorted(map(tuple, connection.execute(text(f"SELECT * FROM {name}"))))
            for name in tables
        }


def _fill(sessions: sessionmaker[Session]) -> None:
    """Three people with tags and history, one erased earlier, a run, deliveries, events."""
    with sessions() as session, session.begin():
        people = [
            add_subscriber(session, f"p{n}@example.com", first_name=f"P{n}", tags=["patients"])
            for n in range(4)
        ]
        run = CampaignRun(slug="spring", subject="Spring", template={}, links=[], recipients=4)
        session.add(run)
        session.flush()
        session.add_all(Delivery(campaign_id=run.id, subscriber_id=p.id) for p in people)
        now = utcnow()
        session.add_all(
            Event(source="web", kind="clicked", campaign_id=run.id, subscriber_id=p.id,
                  occurred_at=now, raw={}) for p in people
        )  # fmt: skip
        # Someone erased long ago, still named by an event: their id must not come back either.
        session.add(
            Event(source="sendgrid", kind="opened", campaign_id=run.id, subscriber_id=40,
                  occurred_at=now, raw={})
        )  # fmt: skip
        session.add(Click(campaign_id=run.id, subscriber_id=people[0].id, link_index=0, url="x"))
        session.flush()
        # The newest, erased before the upgrade as mailer erased then (rows gone, the address
        # suppressed): today's delete_subscriber also clears bookings, a table this old schema
        # does not have yet.
        gone = people[3].id
        session.execute(delete(SubscriberTag).where(SubscriberTag.subscriber_id == gone))
        session.execute(delete(StatusChange).where(StatusChange.subscriber_id == gone))
        session.execute(delete(Subscriber).where(Subscriber.id == gone))
        suppress_hash(session, "p3@example.com", "deleted")


def test_the_migration_keeps_every_row_and_never_reuses_an_id(tmp_path: Any) -> None:
    """Issue 10 item 11: a SQLite database made at the previous revision, with people, tags,
    history, deliveries, events and clicks, upgraded: every row, index and foreign key is kept,
    and no id ever used (in the table or still named by events) is handed out again."""
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    config = _alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, _previous_revision())
    sessions = session_factory(engine)
    _fill(sessions)
    before = _snapshot(engine)

    upgrade_schema(engine)

    assert _snapshot(engine) == before
    with engine.connect() as connection:
        schema = connection.execute(
            text("SELECT sql FROM sqlite_master WHERE name = 'subscribers'")
        ).scalar_one()
        indexes = set(
            connection.execute(
                text("SELECT name FROM sqlite_master WHERE type = 'index'")
            ).scalars()
        )
        assert connection.execute(text("PRAGMA foreign_keys")).scalar_one() == 1
        assert connection.execute(text("PRAGMA foreign_key_check")).all() == []
    assert "AUTOINCREMENT" in schema
    assert {"ix_subscribers_status", "ix_status_changes_subscriber_id"} <= indexes
    with sessions() as session, session.begin():
        fresh = add_subscriber(session, "new@example.com")
    assert fresh.id == 41  # above 40, the highest id any row still names
    with sessions() as session, session.begin():
        delete_subscriber(session, "new@example.com")
        assert add_subscriber(session, "next@example.com").id == 42
    # The unique address key is still enforced.
    with sessions() as session, pytest.raises(IntegrityError), session.begin():
        session.add(
            Subscriber(email="x", email_key="p0@example.com", attributes={},
                       created_at=utcnow(), updated_at=utcnow())
        )  # fmt: skip
        session.flush()
    with sessions() as session, session.begin():  # foreign keys still cascade on erasure
        first = session.scalars(select(Subscriber.id).order_by(Subscriber.id)).first()
        session.execute(delete(Subscriber).where(Subscriber.id == first))
    with sessions() as session:
        for table in (SubscriberTag, StatusChange, Delivery):
            assert session.scalars(select(table).where(table.subscriber_id == first)).all() == []
    engine.dispose()
