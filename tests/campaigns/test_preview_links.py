"""Issue 10 item 10: previews and `--test-to` copies carry a preview identity. Their links show
what would happen and change nothing (`/u/` explains, `/c/` redirects without counting), they
never name a real subscriber, and test sends count nowhere in `mailer report`. A live server,
the real `mailer preview` command, the outbox and the fake SendGrid."""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from mailer.app.sending import SendJob
from mailer.cli.common import state
from mailer.delivery.report import campaign_report
from mailer.events.ingest import ingest
from mailer.events.sources.sendgrid import read_events
from mailer.store.models import CampaignRun, Click, Event, StatusChange, Subscriber
from mailer.tokens import PREVIEW_KINDS, SecretKey, read_token
from mailer.workspace import Workspace
from tests.cli_runner import Mailer
from tests.delivery_helpers import CAMPAIGN
from tests.fakes.sendgrid_server import FakeSendGrid
from tests.web_sending import Sent, send_campaign
from tests.web_server import LiveServer

ONE_CLICK = {"content-type": "application/x-www-form-urlencoded"}
STAFF = "staff@summitspine.example"


@pytest.fixture(autouse=True)
def fresh_cli_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(state, "_workspace", None)
    monkeypatch.setattr(state, "_db", None)
    yield
    if state._db is not None:
        state._db[0].dispose()


@pytest.fixture
def sent(live_server: LiveServer, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Sent:
    """ana and ben (first name Reader) got sleep-and-neck-pain through the outbox."""
    return send_campaign(live_server, database_url, monkeypatch)


def read_eml(path: Path) -> EmailMessage:
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def html_of(message: EmailMessage) -> str:
    part = message.get_body(("html",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


def links_of(message: EmailMessage) -> tuple[str, list[str]]:
    """(the List-Unsubscribe URL, the /c/ links of the HTML part)."""
    unsubscribe = re.search(r"<(https?://[^>]+/u/[^>]+)>", str(message["List-Unsubscribe"]))
    assert unsubscribe, message["List-Unsubscribe"]
    clicks = re.findall(r'href="(http[^"]*/c/[^"]+)"', html_of(message))
    assert clicks, "the message has tracked links"
    return unsubscribe[1], clicks


def preview(mailer: Mailer, workspace: Workspace, slug: str, out: Path) -> EmailMessage:
    result = mailer("preview", slug, "--out", str(out), workspace=workspace)
    assert result.exit_code == 0, result.stdout
    return read_eml(out / f"{slug}.eml")


def nothing_recorded(sent: Sent) -> dict[str, Any]:
    """What a preview or test link must never change: statuses, history, events, clicks."""
    with sent.sessions() as session:
        return {
            "statuses": sorted(session.execute(select(Subscriber.id, Subscriber.status)).all()),
            "changes": session.scalar(select(func.count()).select_from(StatusChange)),
            "events": session.scalar(select(func.count()).select_from(Event)),
            "clicks": session.scalar(select(func.count()).select_from(Click)),
            "runs": session.scalar(select(func.count()).select_from(CampaignRun)),
        }


def act_on_every_link(unsubscribe: str, clicks: list[str]) -> list[str]:
    """GET and POST (one-click, page button, undo) the unsubscribe link, follow every click;
    the redirect targets."""
    page = httpx.get(unsubscribe)
    assert page.status_code == 200 and "preview" in page.text
    assert "<button" not in page.text and "<form" not in page.text  # nothing on it acts
    assert "takes them off the list" in page.text  # says what it would do
    for response in (
        httpx.post(unsubscribe, content=b"List-Unsubscribe=One-Click", headers=ONE_CLICK),
        httpx.post(unsubscribe, data={}),
        httpx.post(unsubscribe + "/resubscribe", data={"undo": "x"}),
    ):
        assert response.status_code == 200  # RFC 8058: the one-click POST is answered 200
        assert "changed nothing" in response.text
    targets = []
    for url in clicks:
        response = httpx.get(url)
        assert response.status_code == 302, url
        targets.append(response.headers["location"])
    return targets


def test_preview_links_act_on_nobody_and_clicks_go_where_the_link_goes(
    mailer: Mailer, sent: Sent, tmp_path: Path
) -> None:
    """Issue 10 item 10: `mailer preview` shows the first active subscriber's name, but its
    links never carry their id: unsubscribing from it unsubscribes nobody, its clicks are not
    counted and lead exactly where the sent campaign's links lead."""
    message = preview(mailer, sent.workspace, sent.slug, tmp_path / "preview")
    assert message["To"].addresses[0].addr_spec == "ana@example.com"
    assert "Hi Reader," in html_of(message)
    unsubscribe, clicks = links_of(message)
    key = SecretKey.for_workspace(sent.workspace)
    token = read_token(key, unsubscribe.rsplit("/", 1)[1])
    assert token.kind in PREVIEW_KINDS and token.subscriber_id not in sent.ids.values()

    before = nothing_recorded(sent)
    report_before = campaign_report(
        sent.sessions, sent.slug, sent.workspace.settings.delivery.provider
    )
    targets = act_on_every_link(unsubscribe, clicks)
    assert nothing_recorded(sent) == before
    assert (
        campaign_report(sent.sessions, sent.slug, sent.workspace.settings.delivery.provider)
        == report_before
    )
    with sent.sessions() as session:
        run = session.scalars(select(CampaignRun).where(CampaignRun.slug == sent.slug)).one()
        stored = {link["index"]: link["url"] for link in run.links}
    assert targets == [stored[int(url.rsplit(".", 1)[1])] for url in clicks]


def test_preview_before_any_send_redirects_to_the_campaign_files_links(
    mailer: Mailer, sent: Sent, tmp_path: Path
) -> None:
    """Issue 10 item 10: a campaign not sent yet has no stored links; its preview's clicks go
    where the campaign file's links go now, and still record nothing (no run is made)."""
    slug = "2026-04-01-desk-posture"
    body = CAMPAIGN.replace("blog/sleep", "blog/desk")
    (sent.workspace.campaigns_dir / f"{slug}.md").write_text(body, encoding="utf-8")
    unsubscribe, clicks = links_of(preview(mailer, sent.workspace, slug, tmp_path / "out"))
    before = nothing_recorded(sent)
    targets = act_on_every_link(unsubscribe, clicks)
    assert nothing_recorded(sent) == before
    assert any(
        target.startswith("https://www.summitspine.example/blog/desk?") for target in targets
    )
    assert all("utm_campaign=" + slug in target for target in targets)
    prefix, token = clicks[0].rsplit("/", 1)
    assert httpx.get(f"{prefix}/{token.rsplit('.', 1)[0]}.999").status_code == 404


def test_test_copy_links_act_on_nobody_and_count_nowhere(sent: Sent) -> None:
    """Issue 10 item 10: a `send --test-to` copy (outbox) unsubscribes nobody, its clicks are
    not counted, and it is not filed among the subscribers' messages."""
    job = SendJob.open(sent.workspace, sent.sessions, sent.slug)
    before = nothing_recorded(sent)
    report_before = campaign_report(
        sent.sessions, sent.slug, sent.workspace.settings.delivery.provider
    )
    job.send_test(STAFF)
    [copy] = [p for p in sent.workspace.outbox_dir.rglob("*.eml") if STAFF in p.name]
    assert copy.parent != sent.workspace.outbox_dir / sent.slug
    message = read_eml(copy)
    assert str(message["Subject"]).startswith("[TEST] ")
    act_on_every_link(*links_of(message))
    assert nothing_recorded(sent) == before
    assert (
        campaign_report(sent.sessions, sent.slug, sent.workspace.settings.delivery.provider)
        == report_before
    )


def test_sendgrid_events_about_a_test_copy_count_in_no_report(
    sent: Sent, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 10 item 10: SendGrid reports on a test copy too (delivered, open, click); those
    events name the test copy, not the campaign, so `mailer report` does not move."""
    with FakeSendGrid(api_key="SG.test", schema_validation="sample") as fake:
        fake.keep_payloads = True
        monkeypatch.setenv("MAILER_DELIVERY__PROVIDER", "sendgrid")
        monkeypatch.setenv("MAILER_SENDGRID__API_HOST", fake.url)
        monkeypatch.setenv("SENDGRID_API_KEY", "SG.test")
        workspace = Workspace(sent.workspace.root)
        SendJob.open(workspace, sent.sessions, sent.slug).send_test(STAFF)
        [payload] = fake.payloads
    [personalization] = payload["personalizations"]
    with sent.sessions() as session:
        run = session.scalars(select(CampaignRun).where(CampaignRun.slug == sent.slug)).one()
        first_link = run.links[0]["url"]
    tags = {**payload["custom_args"], **personalization.get("custom_args", {})}
    events = [
        {"event": kind, "sg_event_id": f"test-copy-{kind}", "timestamp": 1_800_000_000,
         "email": STAFF, **tags, **extra}
        for kind, extra in (("delivered", {}), ("open", {}), ("click", {"url": first_link}))
    ]  # fmt: skip
    report_before = campaign_report(
        sent.sessions, sent.slug, sent.workspace.settings.delivery.provider
    )
    ingest(sent.sessions, read_events(events))
    assert (
        campaign_report(sent.sessions, sent.slug, sent.workspace.settings.delivery.provider)
        == report_before
    )
