"""Issue 14 item 1: a person's page - status history with who or what changed it, tags added
and removed, the campaigns they were sent and what they clicked."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker

from mailer.errors import InputError
from mailer.store.models import CampaignRun, Click, Delivery, DeliveryState
from mailer.subscribers.profile import add_tag, profile, remove_tag
from mailer.subscribers.service import add_subscriber, unsubscribe

pytestmark = pytest.mark.both_databases  # storage rules: SQLite and PostgreSQL


@pytest.fixture
def lee(sessions: sessionmaker[Session]) -> int:
    with sessions.begin() as session:
        person = add_subscriber(
            session, "margaret.lee@example.com", first_name="Margaret", tags=["patient"]
        )
        person_id = person.id
        run = CampaignRun(slug="sleep-and-neck-pain", subject="Sleep and your neck", template={})
        other = CampaignRun(slug="never-reached-her", subject="Not sent", template={})
        session.add_all([run, other])
        session.flush()
        session.add_all(
            [
                Delivery(campaign_id=run.id, subscriber_id=person_id, state=DeliveryState.SENT),
                Delivery(
                    campaign_id=other.id, subscriber_id=person_id, state=DeliveryState.SKIPPED
                ),
                Click(
                    campaign_id=run.id,
                    subscriber_id=person_id,
                    link_index=1,
                    place="cta-top",
                    url="https://book.summitspine.example/consult",
                ),
            ]
        )
    with sessions.begin() as session:
        unsubscribe(session, "margaret.lee@example.com")
    return person_id


def test_did_mrs_lee_unsubscribe_and_when(sessions: sessionmaker[Session], lee: int) -> None:
    found = profile(sessions, lee)
    assert found is not None
    assert found.status == "unsubscribed"
    assert [(h.old_status, h.new_status) for h in found.history] == [
        (None, "active"),
        ("active", "unsubscribed"),
    ]
    assert all(h.source for h in found.history), "every change says who or what made it"
    assert found.history[-1].changed_at >= found.history[0].changed_at
    assert [(c.slug, c.clicks) for c in found.campaigns] == [("sleep-and-neck-pain", 1)]
    assert [(c.slug, c.place) for c in found.clicks] == [("sleep-and-neck-pain", "cta-top")]
    assert found.as_dict()["history"][1]["new_status"] == "unsubscribed"
    assert profile(sessions, lee + 1000) is None


def test_tags_are_added_and_removed_once_and_never_touch_the_status(
    sessions: sessionmaker[Session], lee: int
) -> None:
    assert add_tag(sessions, lee, "New  Patient") is True
    assert add_tag(sessions, lee, "new patient") is False
    assert remove_tag(sessions, lee, "patient") is True
    assert remove_tag(sessions, lee, "patient") is False
    found = profile(sessions, lee)
    assert found is not None and found.tags == ["new patient"]
    assert found.status == "unsubscribed" and len(found.history) == 2
    with pytest.raises(InputError):
        add_tag(sessions, lee, "  ")
    with pytest.raises(InputError):
        add_tag(sessions, lee + 1000, "patient")
