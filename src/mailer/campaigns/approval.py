"""Approval, bound to what goes out: the one owner of "is this campaign approved as it stands?".

An approval records a **fingerprint**: sha256 over a canonical JSON of the compiled message (the
MessageTemplate: subject, html with the preheader, text, headers, From, Reply-To, categories;
per-recipient placeholders left in, as compiled), the links behind the click tokens, the body as
written and every front matter key that shapes the send without rendering (audience, send_on,
cta, articles, anything unknown), minus the keys that record what happened (status,
approved_at, approved_by, sent_at). So an edit to the campaign file, to a template, or to a
setting that renders into the message (organization.postal_address, web.base_url...) changes
it; approving or marking sent does not. Compiling is deterministic (no time, no randomness)
and takes about 2.5 ms, so send time recomputes it.

A campaign counts as approved only when both hold:

- its file says ``status: approved`` (with approved_at and approved_by, for people), and
- ``campaign_approvals`` holds a current (not revoked) approval of its slug whose fingerprint
  equals the campaign's fingerprint now.

A file hand-edited to ``status: approved`` is therefore not approved. `mailer send` and the
scheduler call :func:`verify_approved` before a run starts: a changed campaign, or one that now
fails its check, is refused, its approval revoked with the reason and its file set back to
``status: draft``. Each run stores the fingerprint it sends; before a run's first message,
:func:`approval_holds` confirms that approval is still current (a revoked one stops it).
When a run finishes, :func:`record_sent` writes ``status: sent`` and ``sent_at`` to the file;
a sent campaign is never approved again (copy it to a new file to send it again).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass
from datetime import date, datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from mailer.campaigns.campaign import (
    STATUS_KEYS,
    Campaign,
    load_campaign,
    mark_approved,
    mark_draft,
    mark_sent,
    save_campaign,
)
from mailer.campaigns.check import CheckResult, check_campaign
from mailer.campaigns.files import CampaignFiles
from mailer.campaigns.render import RenderedCampaign, render_campaign
from mailer.delivery.ledger import Ledger
from mailer.errors import ApprovalError, MailerError
from mailer.states import CampaignStatus
from mailer.store.db import transaction
from mailer.store.models import CampaignApproval, CampaignRun, utcnow
from mailer.workspace import Workspace

log = logging.getLogger(__name__)

# Part of what is hashed: a change in what the fingerprint covers makes old approvals stale.
FINGERPRINT_VERSION = 1
CHANGED = "changed since approval: check and approve again"


@dataclass(frozen=True)
class Approval:
    slug: str
    fingerprint: str
    approved_by: str
    approved_at: datetime
    new: bool = False  # recorded by this call (False: it was already approved as it is)


@dataclass(frozen=True)
class VerifiedCampaign:
    """A campaign whose current approval matches it now, compiled once for its send."""

    campaign: Campaign
    rendered: RenderedCampaign
    approval: Approval

    @property
    def fingerprint(self) -> str:
        return self.approval.fingerprint


def fingerprint(
    workspace: Workspace, campaign: Campaign, rendered: RenderedCampaign | None = None
) -> str:
    """sha256 (hex) of what goes out; ``rendered`` must be this campaign compiled."""
    compiled = rendered or render_campaign(workspace, campaign)
    message = asdict(compiled.message_template())
    message.pop("campaign_id", None)
    front = {k: v for k, v in campaign.front_matter().items() if k not in STATUS_KEYS}
    document = {
        "version": FINGERPRINT_VERSION,
        "message": message,
        "preheader": compiled.preheader,
        "links": [asdict(link) for link in compiled.links],
        "front_matter": front,
        "body": campaign.body,
    }
    canonical = json.dumps(
        document, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=_plain
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _plain(value: object) -> str:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return str(value)


# -- reading ----------------------------------------------------------------------------------


def current_approval(sessions: sessionmaker[Session], slug: str) -> Approval | None:
    with sessions() as session:
        row = session.scalars(
            select(CampaignApproval).where(
                CampaignApproval.slug == slug, CampaignApproval.revoked_at.is_(None)
            )
        ).first()
    return _approval(row) if row is not None else None


def current_approvals(sessions: sessionmaker[Session]) -> dict[str, Approval]:
    """Every slug's current approval, in one query (the scheduler's queue)."""
    with sessions() as session:
        rows = session.scalars(
            select(CampaignApproval).where(CampaignApproval.revoked_at.is_(None))
        ).all()
    return {row.slug: _approval(row) for row in rows}


def approval_holds(sessions: sessionmaker[Session], slug: str, digest: str) -> bool:
    """Is an approval of exactly ``digest`` still current? (A run, before its first message.)"""
    with sessions() as session:
        found = session.scalar(
            select(CampaignApproval.id).where(
                CampaignApproval.slug == slug,
                CampaignApproval.fingerprint == digest,
                CampaignApproval.revoked_at.is_(None),
            )
        )
    return found is not None


def _approval(row: CampaignApproval, new: bool = False) -> Approval:
    return Approval(row.slug, row.fingerprint, row.approved_by, row.approved_at, new)


def _run(sessions: sessionmaker[Session], slug: str) -> CampaignRun | None:
    with sessions() as session:
        return session.scalars(select(CampaignRun).where(CampaignRun.slug == slug)).first()


# -- changing ---------------------------------------------------------------------------------


def approve(
    workspace: Workspace,
    sessions: sessionmaker[Session],
    campaign: Campaign,
    *,
    approved_by: str,
    now: datetime | None = None,
    check: CheckResult | None = None,
) -> Approval:
    """Approve ``campaign`` as it is now, after a passing check (``check``: one already run).

    Records the approval (any earlier one of the slug is revoked as replaced), then writes
    status: approved, approved_at and approved_by to the file. Already approved as it is:
    nothing changes. Raises ApprovalError for check errors or a campaign that was sent.
    """
    slug = campaign.slug
    refuse_if_sent(sessions, campaign)
    result = check or check_campaign(workspace, campaign, spam=False)
    if result.errors or result.rendered is None:
        raise ApprovalError(
            f"{slug!r} was not approved: `mailer check` found {len(result.errors)} error(s)",
            hint=f"`mailer check {slug}` lists them; fix them, then approve again",
        )
    digest = fingerprint(workspace, campaign, result.rendered)
    current = current_approval(sessions, slug)
    if (
        campaign.status == CampaignStatus.APPROVED
        and current is not None
        and current.fingerprint == digest
    ):
        return current
    when = now or utcnow()
    for attempt in (1, 2):
        try:
            with transaction(sessions) as session:
                _revoke(session, slug, when, "replaced by a new approval")
                row = CampaignApproval(
                    slug=slug, fingerprint=digest, approved_by=approved_by, approved_at=when
                )
                session.add(row)
            break
        except IntegrityError as err:  # another approval of the slug at this moment: replace it
            if attempt == 2:
                raise ApprovalError(
                    f"{slug!r} is being approved by another process at this moment",
                    hint=f"run `mailer approve {slug}` again",
                ) from err
    assert campaign.path is not None
    mark_approved(campaign, when, approved_by)
    save_campaign(campaign, campaign.path)
    return _approval(row, new=True)


def unapprove(
    workspace: Workspace,
    sessions: sessionmaker[Session],
    campaign: Campaign,
    *,
    by: str,
    reason: str = "unapproved",
) -> bool:
    """Back to draft: the approval is revoked (kept, with the reason) and the file says draft.

    A run that has sent nothing yet is withdrawn with it. Raises ApprovalError if the campaign
    has begun to go out. True when anything changed.
    """
    slug = campaign.slug
    run = _run(sessions, slug)
    if run is not None and not Ledger(sessions).withdraw(run.id):
        raise ApprovalError(
            f"{slug!r} has already begun to go out; unapproving cannot call it back",
            hint=f"`mailer report {slug}` shows how far it got",
        )
    with transaction(sessions) as session:
        revoked = _revoke(session, slug, utcnow(), f"{reason} ({by})" if by else reason)
    return _back_to_draft(campaign) or revoked or run is not None


def _revoke(session: Session, slug: str, when: datetime, reason: str) -> bool:
    result = session.execute(
        update(CampaignApproval)
        .where(CampaignApproval.slug == slug, CampaignApproval.revoked_at.is_(None))
        .values(revoked_at=when, revoked_reason=reason[:2000])
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def _back_to_draft(campaign: Campaign) -> bool:
    """status: draft in the file (atomic save); the file as it is now, only that field changed."""
    if campaign.path is None or not campaign.path.is_file():
        return False
    try:
        on_disk = load_campaign(campaign.path)
    except MailerError:
        return False  # unreadable now: it cannot count as approved; staff's edit stays as is
    if (
        on_disk.status == CampaignStatus.DRAFT
        and not {"approved_at", "approved_by"} & on_disk.extra.keys()
    ):
        return False
    mark_draft(on_disk)
    save_campaign(on_disk, campaign.path)
    campaign.status = on_disk.status
    return True


def refuse_if_sent(sessions: sessionmaker[Session], campaign: Campaign) -> None:
    """ApprovalError if the campaign went out or is going out (a run, or status: sent)."""
    slug = campaign.slug
    run = _run(sessions, slug)
    if campaign.status != CampaignStatus.SENT and run is None:
        return
    if run is not None and run.finished_at is not None:
        what = f"was sent on {run.finished_at:%Y-%m-%d %H:%M} UTC"
    elif run is not None:
        what = "is being sent now"
    else:
        what = f"was sent ({campaign.extra.get('sent_at') or 'its file says status: sent'})"
    raise ApprovalError(
        f"{slug!r} {what}; a campaign goes out once, so it cannot be approved again",
        hint=f"to send it again, copy it to a new file (cp campaigns/{slug}.md "
        f"campaigns/{slug}-again.md), set status: draft in the copy, then approve the copy",
    )


# -- at send time -----------------------------------------------------------------------------


def verify_approved(
    workspace: Workspace, sessions: sessionmaker[Session], campaign: Campaign
) -> VerifiedCampaign:
    """The campaign, compiled, if its current approval matches it now; else ApprovalError.

    A campaign that changed since approval, or now fails its check, goes back to draft (its
    approval revoked with the reason) before the error is raised.
    """
    slug = campaign.slug
    if campaign.status == CampaignStatus.SENT:
        refuse_if_sent(sessions, campaign)
    if campaign.status != CampaignStatus.APPROVED:
        raise ApprovalError(
            f"{slug!r} is a draft and has not been approved",
            hint=f"check and approve it first: mailer approve {slug}",
        )
    approval = current_approval(sessions, slug)
    if approval is None:
        raise ApprovalError(
            f"{slug!r} says status: approved in its file, but it was not approved with "
            "`mailer approve` (approval records what it covers; a hand edit cannot)",
            hint=f"check and approve it: mailer approve {slug}",
        )
    result = check_campaign(workspace, campaign, spam=False)
    digest = fingerprint(workspace, campaign, result.rendered) if result.rendered else ""
    if result.rendered is None or result.errors or digest != approval.fingerprint:
        problems = "; ".join(f.message for f in result.errors[:3])
        reason = "changed since approval" + (
            f" and fails its check: {problems}" if problems else ""
        )
        with transaction(sessions) as session:
            _revoke(session, slug, utcnow(), reason)
        _back_to_draft(campaign)
        raise ApprovalError(
            f"{slug!r} {CHANGED}"
            + (f" (`mailer check` now finds: {problems})" if problems else ""),
            hint=f"the campaign file, a template or a setting that shows in the email changed "
            f"after `mailer approve`, so it is a draft again: look at it with "
            f"`mailer preview {slug}`, then `mailer approve {slug}`",
        )
    return VerifiedCampaign(campaign, result.rendered, approval)


def record_sent(workspace: Workspace, slug: str, when: datetime | None = None) -> None:
    """The run finished: status: sent and sent_at in the file. Never raises (the send is done);
    a missing file (a worker on another machine) is left alone."""
    files = CampaignFiles.of(workspace)
    path = files.find(slug)
    if path is None:
        return
    try:
        campaign = load_campaign(path)
        if campaign.status == CampaignStatus.SENT or campaign.sequence:
            return  # a step of a series is never "sent": it goes on to people who join later
        mark_sent(campaign, when)
        files.save(campaign)
    except (MailerError, OSError) as err:
        log.warning("%s was sent, but its file could not be marked sent: %s", slug, err)
