"""The campaign page, /staff/campaigns/<slug> (issue 13 items 6 and 7), over HTTP: save with the
file as the truth, the live preview, the check, "Send test to me", approve and unapprove."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from mailer.campaigns.approval import current_approval, fingerprint
from mailer.campaigns.campaign import load_campaign
from mailer.campaigns.personalize import recipient_substitutions
from mailer.delivery.types import fill
from mailer.store.models import CampaignApproval, CampaignRun, Delivery
from mailer.subscribers.csv_import import import_csv
from mailer.tokens import signing_key
from mailer.web.staff.forms import MAX_FORM_BYTES
from mailer.workspace import Workspace
from tests.cli_runner import Result, in_this_process
from tests.staff.conftest import EDITOR, OWNER, hidden_fields, mailer_env, post_form, sign_in_as

SLUG = "2026-11-24-sleep-and-neck-pain"
PAGE = f"/staff/campaigns/{SLUG}"
CAMPAIGN = """---
subject: "Sleep position and neck pain"
preheader: "Three small changes for a better night."
status: "draft"
articles:
- title: "Sleep position and neck pain"
  url: "https://www.summitspine.example/blog/sleep"
---

How you sleep shapes how your neck feels in the morning.

[[cta]]

[[button "Read the full article" https://www.summitspine.example/blog/sleep]]
"""
TYPED = {
    "subject": "Your pillow and your neck: what to change tonight",
    "preheader": "Three small changes for a better night's sleep.",
    "body": "Hi! How you sleep shapes your morning.\r\n\r\n[[cta]]\r\n",
}


def run_mailer(workspace: Workspace, env: dict[str, str], *args: str) -> Result:
    """`mailer` on ``workspace`` (the send and report staff compare with), through its real
    entry point in this process: a real process paid 1-5 s of imports a call and shows nothing
    these tests look at (tests.cli_runner runs the same main, environment and streams its own)."""
    return in_this_process(["--workspace", str(workspace.root), *args], env)


@pytest.fixture
def campaign_file(staff_workspace: Workspace) -> Path:
    path = staff_workspace.campaigns_dir / f"{SLUG}.md"
    path.write_text(CAMPAIGN, encoding="utf-8")
    return path


def _save(client: httpx.Client, **fields: str) -> httpx.Response:
    return post_form(client, PAGE, PAGE, **fields)


def _send(workspace: Workspace) -> int:
    result = run_mailer(workspace, mailer_env(workspace), "send", SLUG, "--yes")
    return result.exit_code


def test_save_writes_the_file_that_mailer_send_reads(
    owner: httpx.Client, campaign_file: Path
) -> None:
    saved = _save(owner, **TYPED)
    assert saved.status_code == 303 and saved.headers["location"] == f"{PAGE}?done=saved"
    campaign = load_campaign(campaign_file)
    assert campaign.subject == TYPED["subject"]
    assert campaign.preheader == TYPED["preheader"]
    assert campaign.body == "Hi! How you sleep shapes your morning.\n\n[[cta]]"  # LF, as a file
    assert campaign.articles[0].url == "https://www.summitspine.example/blog/sleep"  # kept
    assert "\r" not in campaign_file.read_text(encoding="utf-8")
    page = owner.get(f"{PAGE}?done=saved")
    assert "Saved to the campaign file." in page.text and TYPED["subject"] in page.text


def test_an_edit_made_in_the_file_shows_in_the_page(
    owner: httpx.Client, campaign_file: Path
) -> None:
    assert "Sleep position and neck pain" in owner.get(PAGE).text
    campaign_file.write_text(
        CAMPAIGN.replace("Sleep position and neck pain", "Edited in a text editor", 1),
        encoding="utf-8",
    )
    page = owner.get(PAGE)
    assert page.status_code == 200
    assert 'value="Edited in a text editor"' in page.text


def test_a_save_over_a_file_changed_since_it_was_opened_is_refused(
    owner: httpx.Client, campaign_file: Path
) -> None:
    opened = hidden_fields(owner.get(PAGE).text, PAGE)
    by_hand = CAMPAIGN.replace("Three small changes", "Edited by hand: three changes")
    campaign_file.write_text(by_hand, encoding="utf-8")

    refused = owner.post(PAGE, data={**opened, **TYPED})
    assert refused.status_code == 409
    assert "changed since you opened it" in refused.text
    assert "Open the current version" in refused.text
    assert campaign_file.read_text(encoding="utf-8") == by_hand  # nothing overwritten
    assert f'value="{TYPED["subject"]}"' in refused.text  # the typed text is not lost
    again = hidden_fields(refused.text, PAGE)
    assert again["content_hash"] == opened["content_hash"]  # a second Save is refused too
    assert owner.post(PAGE, data={**again, **TYPED}).status_code == 409
    assert campaign_file.read_text(encoding="utf-8") == by_hand


def test_a_post_without_the_csrf_token_changes_nothing(
    owner: httpx.Client, campaign_file: Path
) -> None:
    fields = hidden_fields(owner.get(PAGE).text, PAGE)
    del fields["csrf_token"]
    refused = owner.post(PAGE, data={**fields, **TYPED})
    assert refused.status_code == 403
    assert campaign_file.read_text(encoding="utf-8") == CAMPAIGN


def _preview_html(response: httpx.Response) -> str:
    assert response.status_code == 200
    return response.text.replace('<base target="_blank">', "", 1)


def test_the_preview_is_what_the_send_compiles(
    owner: httpx.Client,
    campaign_file: Path,
    staff_workspace: Workspace,
    db: sessionmaker[Session],
    tmp_path: Path,
) -> None:
    (tmp_path / "list.csv").write_text("Email,First Name\nmaria@example.com,Maria\n")
    assert import_csv(db, tmp_path / "list.csv").imported == 1
    fields = hidden_fields(owner.get(PAGE).text, PAGE)

    unsaved = _preview_html(owner.post(f"{PAGE}/preview", data={**fields, **TYPED}))
    assert campaign_file.read_text(encoding="utf-8") == CAMPAIGN  # a preview saves nothing
    assert TYPED["subject"] in unsaved and "Hi Maria" in unsaved  # the first active subscriber

    assert _save(owner, **TYPED).status_code == 303
    saved = _preview_html(owner.get(f"{PAGE}/preview"))
    assert saved == unsaved
    assert post_form(owner, PAGE, f"{PAGE}/approve").status_code == 303
    assert _send(staff_workspace) == 0

    with db() as session:
        run = session.scalars(select(CampaignRun).where(CampaignRun.slug == SLUG)).one()
    values = recipient_substitutions(
        signing_key(staff_workspace, "preview"),
        campaign_slug=SLUG,
        base_url=staff_workspace.settings.web.base_url,
        subscriber_id=None,
        first_name="Maria",
    )
    as_sent = fill(run.template["html"], values)  # the stored message, as the preview fills it
    assert as_sent.replace("\r\n", "\n").strip() == saved.strip()
    assert run.template["subject"] == TYPED["subject"]


def test_the_preview_runs_no_script_and_only_this_site_frames_it(
    owner: httpx.Client, campaign_file: Path
) -> None:
    preview = owner.get(f"{PAGE}/preview")
    policy = preview.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy
    assert "frame-ancestors 'self'" in policy and preview.headers["x-frame-options"] == "SAMEORIGIN"
    page = owner.get(PAGE)
    assert "frame-src 'self'" in page.headers["content-security-policy"]
    assert '<iframe title="Preview" name="preview"' in page.text
    assert 'src="/staff/campaigns/' + SLUG + '/preview"' in page.text


def test_the_check_shows_next_to_the_field_it_is_about(
    owner: httpx.Client, campaign_file: Path
) -> None:
    fields = hidden_fields(owner.get(PAGE).text, PAGE)
    long_subject = "A subject that goes on and on well past what any phone would show"
    checked = owner.post(f"{PAGE}/check", data={**fields, **TYPED, "subject": long_subject})
    assert checked.status_code == 200
    subject_part = checked.text.split('data-findings="subject"')[1].split("data-findings=")[0]
    assert f"the subject has {len(long_subject)} characters" in subject_part
    preheader_part = checked.text.split('data-findings="preheader"')[1].split("data-findings=")[0]
    assert "<li" not in preheader_part
    empty = owner.post(f"{PAGE}/check", data={**fields, **TYPED, "subject": ""})
    assert "The subject is empty." in empty.text and "1 error(s)" in empty.text


def test_send_test_to_me_lands_in_the_outbox_marked_test_and_is_never_counted(
    editor: httpx.Client,
    campaign_file: Path,
    staff_workspace: Workspace,
    db: sessionmaker[Session],
) -> None:
    sent = post_form(editor, PAGE, f"{PAGE}/test")
    assert sent.status_code == 303 and sent.headers["location"] == f"{PAGE}?done=test"
    copies = list(staff_workspace.outbox_dir.glob(f"{SLUG}_test*/*.eml"))
    assert len(copies) == 1
    message = copies[0].read_text(encoding="utf-8", errors="replace")
    assert "Subject: [TEST] Sleep position and neck pain" in message
    assert f"To: {EDITOR}" in message
    assert not (staff_workspace.outbox_dir / SLUG).exists()
    with db() as session:  # not in the ledger, so in no report and no figure
        assert session.scalars(select(CampaignRun)).all() == []
        assert session.scalars(select(Delivery)).all() == []
    report = run_mailer(staff_workspace, mailer_env(staff_workspace), "report", SLUG)
    assert report.exit_code == 2  # never sent
    assert f"A test was sent to {EDITOR}" in editor.get(f"{PAGE}?done=test").text


def test_an_editor_cannot_approve_or_unapprove(
    editor: httpx.Client, campaign_file: Path, db: sessionmaker[Session]
) -> None:
    page = editor.get(PAGE).text
    assert ">Approve</button>" not in page and "An owner approves campaigns." in page
    fields = hidden_fields(page, f"{PAGE}/test")  # the token and hash an editor does have
    assert editor.post(f"{PAGE}/approve", data=fields).status_code == 403
    assert editor.post(f"{PAGE}/unapprove", data=fields).status_code == 403
    assert campaign_file.read_text(encoding="utf-8") == CAMPAIGN
    with db() as session:
        assert session.scalars(select(CampaignApproval)).all() == []


def test_approve_binds_the_content_and_mailer_send_sends_exactly_that(
    owner: httpx.Client,
    campaign_file: Path,
    staff_workspace: Workspace,
    db: sessionmaker[Session],
    tmp_path: Path,
) -> None:
    (tmp_path / "list.csv").write_text("Email\njo@example.com\n")
    import_csv(db, tmp_path / "list.csv")
    assert _save(owner, **TYPED).status_code == 303
    approved = post_form(owner, PAGE, f"{PAGE}/approve")
    assert approved.status_code == 303 and approved.headers["location"] == f"{PAGE}?done=approved"

    campaign = load_campaign(campaign_file)
    assert campaign.status == "approved" and campaign.extra["approved_by"] == OWNER
    approval = current_approval(db, SLUG)
    assert approval is not None and approval.approved_by == OWNER
    assert approval.fingerprint == fingerprint(staff_workspace, campaign)
    page = owner.get(PAGE).text
    assert f"Approved by {OWNER}" in page and ">Unapprove</button>" in page

    assert _send(staff_workspace) == 0
    sent = list((staff_workspace.outbox_dir / SLUG).glob("*.eml"))
    assert len(sent) == 1
    assert f"Subject: {TYPED['subject']}" in sent[0].read_text(encoding="utf-8")
    with db() as session:
        run = session.scalars(select(CampaignRun).where(CampaignRun.slug == SLUG)).one()
    assert run.fingerprint == approval.fingerprint

    after = owner.get(PAGE).text  # sent: the page is a record now
    assert ">Save</button>" not in after and f'href="{PAGE}/results"' in after
    assert _save(owner, **{**TYPED, "subject": "Too late"}).status_code == 409
    assert load_campaign(campaign_file).subject == TYPED["subject"]
    results = owner.get(f"{PAGE}/results")
    assert results.status_code == 200 and "recipients" in results.text


def test_an_edit_after_approval_takes_it_back_and_send_refuses(
    owner: httpx.Client, campaign_file: Path, staff_workspace: Workspace, db: sessionmaker[Session]
) -> None:
    assert post_form(owner, PAGE, f"{PAGE}/approve").status_code == 303
    edited = _save(owner, **TYPED)
    assert edited.headers["location"] == f"{PAGE}?done=unapproved-by-edit"
    assert load_campaign(campaign_file).status == "draft"
    assert current_approval(db, SLUG) is None
    assert _send(staff_workspace) == 1
    assert not (staff_workspace.outbox_dir / SLUG).exists()


def test_approve_is_refused_when_the_check_finds_errors_or_the_file_changed(
    owner: httpx.Client, campaign_file: Path, db: sessionmaker[Session]
) -> None:
    assert _save(owner, **{**TYPED, "subject": ""}).status_code == 303
    refused = post_form(owner, PAGE, f"{PAGE}/approve")
    assert refused.status_code == 422 and "Not approved" in refused.text
    assert "The subject is empty." in refused.text

    assert _save(owner, **TYPED).status_code == 303
    opened = hidden_fields(owner.get(PAGE).text, f"{PAGE}/approve")
    campaign_file.write_text(
        campaign_file.read_text(encoding="utf-8").replace("Hi!", "Hello!"), encoding="utf-8"
    )
    stale = owner.post(f"{PAGE}/approve", data=opened)
    assert stale.status_code == 409 and "changed since you opened it" in stale.text
    assert load_campaign(campaign_file).status == "draft"
    with db() as session:
        assert session.scalars(select(CampaignApproval)).all() == []


def test_unapprove_makes_it_a_draft_again(
    owner: httpx.Client, campaign_file: Path, db: sessionmaker[Session]
) -> None:
    assert post_form(owner, PAGE, f"{PAGE}/approve").status_code == 303
    back = post_form(owner, PAGE, f"{PAGE}/unapprove")
    assert back.status_code == 303 and back.headers["location"] == f"{PAGE}?done=unapproved"
    assert load_campaign(campaign_file).status == "draft"
    assert current_approval(db, SLUG) is None


@pytest.mark.parametrize("slug", ["no-such-campaign", "README.md", ".hidden", "a..b"])
def test_a_campaign_that_is_not_there_is_a_404(
    owner: httpx.Client, campaign_file: Path, slug: str
) -> None:
    assert owner.get(f"/staff/campaigns/{slug}").status_code == 404
    assert owner.get(f"/staff/campaigns/{slug}/preview").status_code == 404


def test_an_unreadable_file_is_named_with_its_line(
    owner: httpx.Client, campaign_file: Path
) -> None:
    campaign_file.write_text(CAMPAIGN.replace('status: "draft"', "status: [draft"))
    page = owner.get(PAGE)
    assert page.status_code == 422
    assert "cannot be read" in page.text and f"{SLUG}.md:" in page.text


def test_sign_in_is_needed(app_client: httpx.Client, campaign_file: Path) -> None:
    assert app_client.get(PAGE).status_code in {401, 303, 307}  # the sign-in page's way
    sign_in_as(app_client, OWNER, "owner")
    assert app_client.get(PAGE).status_code == 200


def test_the_check_after_a_preview_follows_a_change_to_the_file(
    owner: httpx.Client, campaign_file: Path
) -> None:
    digest = CAMPAIGN.replace(
        '  url: "https://www.summitspine.example/blog/sleep"\n',
        '  url: "https://www.summitspine.example/blog/sleep"\n'
        '- title: "Desk posture"\n  url: "https://www.summitspine.example/blog/desk"\n',
    )
    campaign_file.write_text(digest, encoding="utf-8")
    fields = {**hidden_fields(owner.get(PAGE).text, PAGE), **TYPED}
    assert owner.post(f"{PAGE}/preview", data=fields).status_code == 200
    assert "digest entry" not in owner.post(f"{PAGE}/check", data=fields).text  # reused

    unlinked = digest.replace('"https://www.summitspine.example/blog/desk"', '""')
    campaign_file.write_text(unlinked, encoding="utf-8")  # by hand
    after = owner.post(f"{PAGE}/check", data=fields).text
    assert "the digest entry &#39;Desk posture&#39; has no link" in after


def test_a_save_missing_its_fields_or_too_large_writes_nothing(
    owner: httpx.Client, campaign_file: Path
) -> None:
    fields = hidden_fields(owner.get(PAGE).text, PAGE)
    assert owner.post(PAGE, data=fields).status_code == 400  # never an emptied campaign
    too_large = owner.post(PAGE, data={**fields, **TYPED, "body": "x" * (MAX_FORM_BYTES + 1)})
    assert too_large.status_code == 413
    assert campaign_file.read_text(encoding="utf-8") == CAMPAIGN
