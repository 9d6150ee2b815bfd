"""The parts on their own: signature forms, click references and the redirect they ride on,
the parsers' strictness, the secrets, and the migration matching the model."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from mailer.bookings import calcom, calendly, generic, refs
from mailer.bookings.model import Ignored, PayloadError, SignatureError
from mailer.bookings.signatures import MAX_SKEW_SECONDS, verify_hex, verify_timestamped
from mailer.campaigns import links
from mailer.config import load_secrets
from mailer.logs import redact
from mailer.store.db import make_engine, upgrade_schema
from mailer.store.models import Base
from mailer.tokens import click_token, make_token, unsubscribe_token
from tests.bookings import payloads

KEY = b"k3y"
NOW = 1_800_000_000


def _mac(stamp: int | str, body: bytes, key: bytes = KEY) -> str:
    return hmac.new(key, f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()


def test_timestamped_signatures_window_and_rotation() -> None:
    body = b'{"event":"invitee.created"}'
    for age in (0, MAX_SKEW_SECONDS, -MAX_SKEW_SECONDS):
        verify_timestamped(KEY, f"t={NOW - age},v1={_mac(NOW - age, body)}", body, NOW)
    # A key being rotated: two v1 entries, one of them right; spaces after commas.
    verify_timestamped(KEY, f"t={NOW}, v1={'0' * 64}, v1={_mac(NOW, body)}", body, NOW)
    verify_timestamped(KEY, f"t={NOW},v1={_mac(NOW, body).upper()}", body, NOW)
    refused = {
        "stale": f"t={NOW - 181},v1={_mac(NOW - 181, body)}",
        "future": f"t={NOW + 181},v1={_mac(NOW + 181, body)}",
        "wrong key": f"t={NOW},v1={_mac(NOW, body, b'other')}",
        "other time signed": f"t={NOW},v1={_mac(NOW - 1, body)}",
        "arabic digits": f"t=١٨٠٠٠٠٠٠٠٠,v1={_mac(NOW, body)}",
        "superscript": f"t={NOW}²,v1={_mac(NOW, body)}",
        "no t": f"v1={_mac(NOW, body)}",
        "no v1": f"t={NOW}",
        "short mac": f"t={NOW},v1={_mac(NOW, body)[:-1]}",
        "too long": f"t={NOW},v1={_mac(NOW, body)}," + "x" * 2000,
        "empty": "",
    }
    for case, header in refused.items():
        with pytest.raises(SignatureError):
            verify_timestamped(KEY, header, body, NOW)
        assert _mac(NOW, body) not in str(case)
    with pytest.raises(SignatureError):
        verify_timestamped(KEY, None, body, NOW)


def test_hex_signatures() -> None:
    body = b'{"triggerEvent":"BOOKING_CREATED"}'
    good = hmac.new(KEY, body, hashlib.sha256).hexdigest()
    for header in (good, good.upper(), f"sha256={good}", f" {good} "):
        verify_hex(KEY, header, body, NOW)
    for header in (None, "", good[:-1], good + "0", "g" * 64, good.replace(good[0], "x", 1)):
        with pytest.raises(SignatureError):
            verify_hex(KEY, header, body, NOW)
    with pytest.raises(SignatureError):
        verify_hex(b"other", good, body, NOW)


def test_references_round_trip_and_other_tokens_are_not_references() -> None:
    ref = refs.make_ref("secret", 123456, 42, 3)
    assert len(ref) <= 40
    assert refs.read_ref("secret", ref) == refs.Ref(123456, 42, 3)
    assert refs.read_ref("other", ref) is None
    for other in (
        click_token("secret", 123456, "42.3", 3),
        unsubscribe_token("secret", 123456, "42.3"),
        make_token("secret", "b", 1, "a-slug"),  # our kind, but not "<run>.<index>"
        "cta-top",
        "",
        "x" * 500,
    ):
        assert refs.read_ref("secret", other) is None, other


def test_the_redirect_adds_the_reference_to_booking_links_only() -> None:
    booking = "https://www.summitspine.example/book"
    sent = links.with_utm(booking, "issue-1", "cta-top")
    template = refs.redirect_template(sent, "cta-top", booking, "issue-1")
    assert template is not None
    assert template == sent + "&utm_term=\x00"  # the link as sent, plus the reference
    article = links.with_utm("https://www.summitspine.example/blog/x", "issue-1", "read-more")
    assert refs.redirect_template(article, "read-more", booking, "issue-1") is None
    # A body link to the booking page is a booking link too, whatever its query or "www.".
    assert refs.is_booking_link("https://summitspine.example/book/?a=1", "link-3", booking)
    # The clinic's own utm_term is replaced by ours; a fragment stays a fragment.
    odd = "https://calendly.com/summit/consult?utm_term=mine&utm_campaign=c#top"
    template = refs.redirect_template(odd, "cta-bottom", booking, "issue-1")
    assert template is not None and template.endswith("#top")
    assert "mine" not in template and template.count("utm_term=") == 1
    # A call to action on another site gets the utm_* it lacks.
    foreign = refs.redirect_template("https://book.other.example/x", "cta-top", booking, "s")
    assert foreign == (
        "https://book.other.example/x?utm_source=newsletter&utm_medium=email"
        "&utm_campaign=s&utm_content=cta-top&utm_term=\x00"
    )
    assert (refs.UTM_SOURCE, refs.UTM_MEDIUM) == (links.UTM_SOURCE, links.UTM_MEDIUM)


def test_a_calcom_booking_link_also_carries_the_reference_in_metadata() -> None:
    cal = links.with_utm("https://cal.com/summitspine/free-consultation", "issue-1", "cta-top")
    template = refs.redirect_template(cal, "cta-top", cal, "issue-1")
    assert template is not None
    assert "&utm_term=\x00&metadata%5Butm_term%5D=\x00" in template
    assert "metadata%5Butm_campaign%5D=issue-1&metadata%5Butm_content%5D=cta-top" in template
    assert refs.is_calcom("https://acme.cal.com/x") and not refs.is_calcom("https://notcal.com")


def test_parsers_keep_no_answers_and_name_bad_fields() -> None:
    event = calendly.parse(payloads.body(payloads.calendly(tracking={"utm_term": "abc"})))
    assert not isinstance(event, Ignored)
    assert event.email == "ana@example.com" and event.event_name == "Free consultation"
    assert "Headaches" not in repr(event) and "Ana Reader" not in repr(event)
    cal = calcom.parse(payloads.body(payloads.calcom(metadata={"utm_campaign": "s"})))
    assert not isinstance(cal, Ignored)
    assert cal.params == {"utm_campaign": "s"} and "neck hurts" not in repr(cal)
    bad = payloads.generic()
    bad["rescheduled"] = "yes"
    with pytest.raises(PayloadError, match="rescheduled"):
        generic.parse(payloads.body(bad))
    nul = payloads.generic(external_id="a\u0000b")
    with pytest.raises(PayloadError, match="NUL"):
        generic.parse(payloads.body(nul))
    with pytest.raises(PayloadError, match="booked_at"):
        generic.parse(payloads.body({**payloads.generic(), "booked_at": "last tuesday"}))
    with pytest.raises(PayloadError, match="external_id"):
        generic.parse(payloads.body({**payloads.generic(), "external_id": "x" * 2001}))


def test_booking_secrets_come_from_the_environment_or_files_and_are_masked(
    tmp_path: Path,
) -> None:
    path = tmp_path / "calcom"
    path.write_text("calcom-secret-from-file\n", encoding="utf-8")
    secrets = load_secrets(
        {
            "MAILER_CALENDLY_SIGNING_KEY": "calendly-secret",
            "MAILER_CALCOM_WEBHOOK_SECRET_FILE": str(path),
        }
    )
    assert secrets.booking_secret("MAILER_CALENDLY_SIGNING_KEY") == "calendly-secret"
    assert secrets.booking_secret("MAILER_CALCOM_WEBHOOK_SECRET") == "calcom-secret-from-file"
    assert secrets.booking_secret("MAILER_BOOKING_WEBHOOK_SECRET") == ""
    assert secrets.bookings_connected and not load_secrets({}).bookings_connected
    line = redact("key calendly-secret and calcom-secret-from-file", secrets.values())
    assert "calendly-secret" not in line and "calcom-secret-from-file" not in line
    assert "calendly-secret" not in repr(secrets)


def test_the_migration_creates_the_bookings_table_as_the_model_declares(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade_schema(engine)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = [
            diff for diff in compare_metadata(context, Base.metadata) if "bookings" in repr(diff)
        ]
    engine.dispose()
    assert differences == []
