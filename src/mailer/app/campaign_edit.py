"""Editing, testing and approving a campaign from the staff pages, with its file as the truth.

Every action names the file as the person last saw it, by ``content_hash`` (sha256 of its
bytes, from CampaignFiles.read): when the file changed since (another person saved, or someone
edited it in a text editor), the action is refused with StaleCampaignError and nothing is
written, so nobody overwrites or approves a version they have not seen.

- save_edit: subject, preheader and body written into the file (the rest of the front matter as
  it is). A change to an approved campaign takes its approval back (file status: draft, the
  database approval revoked with the reason): the approval covered the content before the edit,
  and a send would refuse it anyway, so the list shows the truth at once.
- approve_shown / unapprove_campaign: campaigns/approval.py's approve() and unapprove(), with
  the staff member's address as who approved.
- send_test_copy: app/sending.py's staff copy ("[TEST]" subject, preview links, never in the
  ledger nor in any report), to one address, through the configured provider.

A campaign with a send (a campaign run) is not edited here: what went out, or is going out, is
fixed, and an edit would not change it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from mailer.app.sending import SendJob
from mailer.campaigns.approval import Approval, approve, refuse_if_sent, unapprove
from mailer.campaigns.campaign import Campaign, campaign_text, mark_draft
from mailer.campaigns.check import CheckResult, check_campaign
from mailer.campaigns.files import CampaignFiles, CampaignText
from mailer.delivery.ledger import Ledger
from mailer.errors import CampaignError, StaleCampaignError
from mailer.workspace import Workspace

MAX_LINE = 500  # subject and preheader: one line each; a subject this long is a mistake


@dataclass(frozen=True)
class Edit:
    """What the campaign page sends: the three fields staff edit, as typed."""

    subject: str
    preheader: str
    body: str

    def normalized(self) -> Edit:
        """As the file will hold them: subject and preheader on one line, the body with LF
        line ends and no blank lines around it (as the file's reader returns a body)."""
        return Edit(
            _one_line(self.subject)[:MAX_LINE],
            _one_line(self.preheader)[:MAX_LINE],
            self.body.replace("\r\n", "\n").replace("\r", "\n").strip(),
        )


def _one_line(value: str) -> str:
    return " ".join(value.split())


def edited(campaign: Campaign, edit: Edit) -> Campaign:
    """A copy of ``campaign`` with the edit applied (nothing saved)."""
    fields = edit.normalized()
    return dataclasses.replace(
        campaign,
        subject=fields.subject,
        preheader=fields.preheader,
        body=fields.body,
        extra=dict(campaign.extra),
        articles=list(campaign.articles),
        cta=dict(campaign.cta),
    )


@dataclass(frozen=True)
class Saved:
    text: CampaignText  # the file as it is now
    changed: bool  # False: the fields were as saved already; nothing was written
    unapproved: bool  # the edit took an approval back


@dataclass(frozen=True)
class ApproveOutcome:
    check: CheckResult
    approval: Approval | None  # None: the check found errors and nothing changed


def current_text(files: CampaignFiles, slug: str, expected_hash: str) -> CampaignText:
    """The file as it is, if it is still what the person saw; else StaleCampaignError."""
    text = files.read(slug)
    if text.content_hash != expected_hash:
        raise StaleCampaignError(
            f"campaigns/{slug}.md changed since you opened it (someone saved it, or it was "
            "edited in a text editor); nothing was changed",
            hint="open the campaign again to see the current version, then make your change again",
        )
    return text


def refuse_if_started(sessions: sessionmaker[Session], slug: str) -> None:
    """CampaignError when the campaign has a send (queued, going out or finished)."""
    run = Ledger(sessions).find_run(slug)
    if run is not None:
        raise CampaignError(
            f"{slug!r} has a send ({run.state}): what goes out is fixed, so it is not edited",
            hint=f"to send something else, copy it to a new file (cp campaigns/{slug}.md "
            f"campaigns/{slug}-again.md) and set status: draft in the copy",
        )


def save_edit(
    workspace: Workspace,
    sessions: sessionmaker[Session],
    slug: str,
    edit: Edit,
    *,
    expected_hash: str,
    by: str,
) -> Saved:
    """Write the edit into campaigns/<slug>.md if the file is still as ``expected_hash`` says.

    Raises StaleCampaignError (nothing written), CampaignError for an unreadable file or a
    campaign with a send.
    """
    files = CampaignFiles.of(workspace)
    current_text(files, slug, expected_hash)
    campaign = files.load(slug)
    refuse_if_started(sessions, slug)
    new = edited(campaign, edit)
    if (new.subject, new.preheader, new.body) == (
        campaign.subject,
        campaign.preheader,
        campaign.body,
    ):
        return Saved(current_text(files, slug, expected_hash), changed=False, unapproved=False)
    was_approved = new.status == "approved"
    if was_approved:
        mark_draft(new)  # in the same write: the file never says approved over new content
    saved = files.save_text(slug, campaign_text(new), expected_hash=expected_hash)
    if was_approved:
        unapprove(workspace, sessions, new, by=by, reason="edited on the staff pages")
    return Saved(saved, changed=True, unapproved=was_approved)


def approve_shown(
    workspace: Workspace,
    sessions: sessionmaker[Session],
    slug: str,
    *,
    expected_hash: str,
    by: str,
) -> ApproveOutcome:
    """Approve the campaign as the person saw it (``expected_hash``), after a passing check.

    Raises StaleCampaignError, CampaignError, ApprovalError (sent, or approved elsewhere at this
    very moment).
    """
    files = CampaignFiles.of(workspace)
    current_text(files, slug, expected_hash)
    campaign = files.load(slug)
    current_text(files, slug, expected_hash)  # the campaign loaded is the one they saw
    refuse_if_sent(sessions, campaign)
    result = check_campaign(workspace, campaign, spam=False)
    if result.errors:
        return ApproveOutcome(result, None)
    approval = approve(workspace, sessions, campaign, approved_by=by, check=result)
    return ApproveOutcome(result, approval)


def unapprove_campaign(
    workspace: Workspace, sessions: sessionmaker[Session], slug: str, *, by: str
) -> bool:
    """Take the approval back (status: draft); True when anything changed. ApprovalError when
    the campaign has begun to go out."""
    campaign = CampaignFiles.of(workspace).load(slug)
    return unapprove(workspace, sessions, campaign, by=by)


def send_test_copy(
    workspace: Workspace,
    sessions: sessionmaker[Session],
    slug: str,
    address: str,
    *,
    expected_hash: str,
) -> None:
    """The saved campaign, as the person saw it, to ``address`` marked [TEST] (never counted)."""
    files = CampaignFiles.of(workspace)
    current_text(files, slug, expected_hash)
    campaign = files.load(slug)
    SendJob(workspace, sessions, campaign).send_test(address)
