"""The whole loop, as the issue's "done when" says: a real send to the outbox, a click on its
booking button, Calendly's signed invitee.created, and `mailer report --json` shows the booking
once, with its place; a retry, a forged and a stale delivery change nothing; a cancellation
brings it back to 0. Erasing the subscriber keeps the anonymous count."""

from __future__ import annotations

import json
import subprocess
import time
from subprocess import CompletedProcess
from typing import Any

import pytest

from mailer.workspace import Workspace
from tests.bookings import payloads
from tests.bookings.conftest import ANA, Loop
from tests.cli_runner import MAILER
from tests.delivery_helpers import mailer_env

pytestmark = pytest.mark.slow  # real `mailer` processes (1-5 s of imports each)

SLEEP_ARTICLE = "https://www.summitspine.example/blog/sleep"


def run_mailer(workspace: Workspace, env: dict[str, str], *args: str) -> CompletedProcess[str]:
    """A real `mailer` process on ``workspace``, as the clinic runs the report."""
    return subprocess.run(
        [MAILER, "--workspace", str(workspace.root), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def _report(loop: Loop, *args: str, connected: bool = True) -> Any:
    env = mailer_env(MAILER_DATABASE__URL=loop.sent.workspace.settings.database.url)
    if connected:
        env["MAILER_CALENDLY_SIGNING_KEY"] = payloads.CALENDLY_KEY
    result = run_mailer(loop.sent.workspace, env, "report", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout) if "--json" in args else result.stdout


def test_send_click_book_report_retry_forge_stale_cancel(loop: Loop) -> None:
    slug = loop.sent.slug
    before = _report(loop, slug, "--json")
    assert before["bookings"] == 0 and before["bookings_by_place"] == {}

    tracking = loop.follow(ANA, "cta-top")
    assert tracking["utm_campaign"] == slug and tracking["utm_content"] == "cta-top"
    booked = payloads.calendly(tracking=tracking)
    assert loop.calendly(booked).status_code == 200
    figures = _report(loop, slug, "--json")
    assert figures["bookings"] == 1
    assert figures["bookings_by_place"] == {"cta-top": 1}
    assert figures["bookings_by_article"] == {SLEEP_ARTICLE: 1}
    assert figures["booking_rate_per_recipient"] == 0.5  # 1 booking, 2 recipients
    assert figures["booking_rate_per_clicker"] == 1.0  # Ana, the one who clicked
    assert figures["booking_cancellations"] == 0 and figures["bookings_unmatched"] == 0

    raw = payloads.body(booked)
    forged_body = payloads.body(payloads.calendly(invitee="INVFORGED0000001", tracking=tracking))
    attempts = [
        (raw, payloads.calendly_headers(raw)),  # Calendly's retry
        (forged_body, payloads.calendly_headers(forged_body, key="guessed-key")),
        (forged_body, payloads.calendly_headers(forged_body, stamp=int(time.time()) - 600)),
    ]
    statuses = [
        loop.client.post("/webhooks/calendly", content=body, headers=headers).status_code
        for body, headers in attempts
    ]
    assert statuses == [200, 403, 403]
    assert _report(loop, slug, "--json")["bookings"] == 1

    canceled = payloads.calendly("invitee.canceled", tracking=tracking)
    assert loop.calendly(canceled).json()["outcome"] == "canceled"
    after = _report(loop, slug, "--json")
    assert after["bookings"] == 0 and after["booking_cancellations"] == 1
    assert after["bookings_by_place"] == {} and after["booking_rate_per_recipient"] == 0.0

    listing = _report(loop, "--since", "90d", "--json")
    assert listing["bookings_connected"] is True
    [row] = [item for item in listing["campaigns"] if item["campaign"] == slug]
    assert (row["bookings"], row["cancellations"], row["recipients"]) == (0, 1, 2)
    text = _report(loop, slug)
    assert "bookings by place" in text and "booking cancellations" in text


def test_report_says_when_no_booking_webhook_is_connected(loop: Loop) -> None:
    figures = _report(loop, loop.sent.slug, "--json", connected=False)
    assert figures["bookings"] is None and figures["booking_rate_per_recipient"] is None
    text = _report(loop, loop.sent.slug, connected=False)
    assert "no booking webhook connected" in text
    listing = _report(loop, "--since", "12w", connected=False)
    assert loop.sent.slug in listing and "No booking webhook is connected" in listing
    # Once one arrives, it is counted even without the key in this shell.
    loop.calendly(payloads.calendly(tracking=loop.follow(ANA, "cta-bottom")))
    assert _report(loop, loop.sent.slug, "--json", connected=False)["bookings"] == 1


def test_report_since_needs_a_span_and_not_both(loop: Loop) -> None:
    env = mailer_env(MAILER_DATABASE__URL=loop.sent.workspace.settings.database.url)
    for args in (("--since", "ninety days"), (loop.sent.slug, "--since", "90d")):
        result = run_mailer(loop.sent.workspace, env, "report", *args, "--json")
        assert result.returncode == 2, (args, result.stdout)
        assert json.loads(result.stdout)["error"]["hint"]
    alone = run_mailer(loop.sent.workspace, env, "report", "--json")  # issue 19: every campaign
    assert alone.returncode == 0, alone.stderr
    assert loop.sent.slug in [c["slug"] for c in json.loads(alone.stdout)["campaigns"]]


def test_erasing_the_subscriber_keeps_the_anonymous_count(loop: Loop) -> None:
    loop.calendly(payloads.calendly(tracking=loop.follow(ANA, "cta-top")))
    # And someone never on the list, attributed through Ana's forwarded link.
    loop.calendly(
        payloads.calendly(
            invitee="INVFRIEND0000001",
            email="friend@example.org",
            tracking=loop.follow(ANA, "cta-bottom"),
        )
    )
    env = mailer_env(MAILER_DATABASE__URL=loop.sent.workspace.settings.database.url)
    for address in (ANA, "friend@example.org"):
        result = run_mailer(loop.sent.workspace, env, "subscribers", "delete", address)
        assert result.returncode == 0, result.stderr
    rows = loop.bookings()
    assert [(row.state, row.place) for row in rows] == [
        ("booked", "cta-top"),
        ("booked", "cta-bottom"),
    ]
    for row in rows:
        assert (row.subscriber_id, row.email_hash, row.params) == (None, None, {})
    assert _report(loop, loop.sent.slug, "--json")["bookings"] == 2
