"""The campaign page, /staff/campaigns/{slug}: edit with a live preview, test, approve.

The file campaigns/<slug>.md stays the truth: the page shows it as it is now (an edit made in a
text editor shows at the next load), every form carries the ``content_hash`` of the file as
shown, and app/campaign_edit.py refuses to save over, test or approve a file that changed since
(409, nothing written). What is saved is what `mailer send` reads.

- ``GET /staff/campaigns/{slug}``: the page; its preview iframe and the check beside the
  fields come from web/staff/campaign_preview.py.
- ``POST /staff/campaigns/{slug}``: Save (subject, preheader, body).
- ``POST .../test``: "Send test to me" (editors and owners); ``POST .../approve`` and
  ``.../unapprove``: owners only (require_owner: 403 for an editor).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from mailer.app.campaign_edit import (
    Edit,
    approve_shown,
    edited,
    save_edit,
    send_test_copy,
    unapprove_campaign,
)
from mailer.app.preview import Preview, compile_preview, sample_person
from mailer.campaigns.approval import current_approval
from mailer.campaigns.check import MAX_SUBJECT
from mailer.campaigns.draft import READ_FULL
from mailer.campaigns.files import CampaignFiles
from mailer.campaigns.markdown import CTA, button
from mailer.delivery.ledger import Ledger
from mailer.errors import ApprovalError, DeliveryError, MailerError, StaleCampaignError
from mailer.staff.accounts import Role
from mailer.web.context import WebContext, web_context
from mailer.web.staff.auth import StaffUser, current_staff, render, require_owner
from mailer.web.staff.campaign_preview import (
    campaign_slug,
    grouped,
    not_found,
    typed_fields,
    verdict,
)
from mailer.web.staff.display import clinic_zone, formatter
from mailer.web.staff.forms import posted_form

router = APIRouter()

# What the campaign page adds to the staff pages' policy: the preview frame (this site) and the
# check's fetch (this site).
PAGE_SOURCES = {"frame-src": "'self'", "connect-src": "'self'", "script-src": "'self'"}
DONE = {
    "created": "Drafted from the article. Check the subject and the preheader, then save.",
    "saved": "Saved to the campaign file.",
    "unchanged": "Nothing to save: the campaign was already as shown.",
    "unapproved-by-edit": "Saved. The campaign was approved; the change took the approval back, "
    "so it is a draft again and needs a new approval.",
    "test": "",  # names the address: see campaign_view
    "approved": "Approved as it is now; it goes out at its slot. Any change needs a new approval.",
    "already-approved": "It was already approved as it is; nothing changed.",
    "unapproved": "Unapproved: it is a draft again and will not be sent.",
    "not-approved": "It was not approved; nothing changed.",
}


def with_page_sources(response: HTMLResponse) -> HTMLResponse:
    """The staff policy, allowing what this page adds (see PAGE_SOURCES), nothing more."""
    policy = response.headers.get("content-security-policy")
    if not policy:
        return response
    directives = [part.strip() for part in policy.split(";") if part.strip()]
    names = [part.split()[0].lower() for part in directives]
    for name, source in PAGE_SOURCES.items():
        if name in names:
            index = names.index(name)
            if source not in directives[index].split()[1:]:
                directives[index] = directives[index].replace("'none'", "").strip() + f" {source}"
        else:
            directives.append(f"{name} {source}")
    response.headers["content-security-policy"] = "; ".join(directives)
    return response


def page(
    request: Request,
    ctx: WebContext,
    user: StaffUser,
    slug: str,
    *,
    status_code: int = 200,
    message: str = "",
    error: str = "",
    hint: str = "",
    stale: bool = False,
    typed: Edit | None = None,
    shown_hash: str | None = None,
) -> HTMLResponse:
    """The campaign page, the file as it is now (or, after a refused save, the fields as typed
    and the hash they were typed against, so a second Save is refused too)."""
    files = CampaignFiles.of(ctx.workspace)
    text = files.read(slug)
    try:
        campaign = files.load(slug)
    except MailerError as err:
        return render(
            request,
            "staff/campaign_unreadable.html",
            {"slug": slug, "error": err.message, "hint": err.hint or "", "text": text.text},
            status_code if status_code != 200 else 422,
        )
    run = Ledger(ctx.sessions).find_run(slug)
    shown = edited(campaign, typed) if typed is not None else campaign
    preview = compile_preview(ctx.workspace, shown, sample_person(ctx.sessions))
    status: str = campaign.status
    if run is not None:
        status = "sent" if run.finished_at is not None else run.state
    approval = current_approval(ctx.sessions, slug) if campaign.status == "approved" else None
    first_url = next((a.url for a in campaign.articles if a.url), "") or "https://"
    context: dict[str, Any] = {
        "slug": slug,
        "fields": typed.normalized() if typed is not None else campaign,
        "content_hash": shown_hash or text.content_hash,
        "status": status,
        "approval": approval,
        "has_run": run is not None,
        "editable": run is None,
        "is_owner": user.role == Role.OWNER,
        "findings": grouped(preview.check),
        "verdict": verdict(preview.check),
        "person": _who(preview),
        "from_name": ctx.settings.sender.from_name or ctx.settings.organization.name,
        "message": message,
        "error": error,
        "hint": hint,
        "stale": stale,
        "max_subject": MAX_SUBJECT,
        "cta_code": CTA,
        "read_more_code": button(READ_FULL, first_url),
        "when": formatter(clinic_zone(ctx.settings)),
    }
    response = render(request, "staff/campaign.html", context, status_code)
    return with_page_sources(response)


def _who(preview: Preview) -> str:
    person = preview.person
    return f"{person.name} <{person.email}>" if person.name else person.email


def _back(slug: str, done: str) -> RedirectResponse:
    return RedirectResponse(f"/staff/campaigns/{slug}?done={done}", status_code=303)


@router.get("/campaigns/{slug}", response_class=HTMLResponse)
def campaign_view(
    slug: str,
    request: Request,
    done: str = "",
    user: StaffUser = Depends(current_staff),
    ctx: WebContext = Depends(web_context),
) -> HTMLResponse:
    if campaign_slug(ctx, slug) is None:
        return not_found(request)
    message = DONE.get(done, "")
    if done == "test":
        message = f"A test was sent to {user.email}, with [TEST] before the subject."
    return page(request, ctx, user, slug, message=message)


@router.post("/campaigns/{slug}", response_model=None)
async def save(
    slug: str,
    request: Request,
    user: StaffUser = Depends(current_staff),
    ctx: WebContext = Depends(web_context),
) -> Response:
    if campaign_slug(ctx, slug) is None:
        return not_found(request)
    form = await posted_form(request)
    if not form.has("subject", "preheader", "body", "content_hash"):
        # Never an empty campaign from a form that lost its fields on the way.
        raise HTTPException(400, "the form was incomplete; nothing was saved")
    typed, expected = typed_fields(form), form.first("content_hash")
    try:
        saved = await run_in_threadpool(
            save_edit,
            ctx.workspace,
            ctx.sessions,
            slug,
            typed,
            expected_hash=expected,
            by=user.email,
        )
    except StaleCampaignError as err:
        return await run_in_threadpool(
            _refused, request, ctx, user, slug, err, 409, typed, expected, True
        )
    except MailerError as err:
        return await run_in_threadpool(
            _refused, request, ctx, user, slug, err, 409, typed, expected, False
        )
    if not saved.changed:
        return _back(slug, "unchanged")
    return _back(slug, "unapproved-by-edit" if saved.unapproved else "saved")


def _refused(
    request: Request,
    ctx: WebContext,
    user: StaffUser,
    slug: str,
    err: MailerError,
    status_code: int,
    typed: Edit | None = None,
    shown_hash: str | None = None,
    stale: bool = False,
) -> HTMLResponse:
    return page(
        request,
        ctx,
        user,
        slug,
        status_code=status_code,
        error=err.message,
        hint=err.hint or "",
        stale=stale,
        typed=typed,
        shown_hash=shown_hash,
    )


@router.post("/campaigns/{slug}/test", response_model=None)
async def send_test(
    slug: str,
    request: Request,
    user: StaffUser = Depends(current_staff),
    ctx: WebContext = Depends(web_context),
) -> Response:
    if campaign_slug(ctx, slug) is None:
        return not_found(request)
    form = await posted_form(request)
    expected = form.first("content_hash")
    try:
        await run_in_threadpool(
            send_test_copy, ctx.workspace, ctx.sessions, slug, user.email, expected_hash=expected
        )
    except StaleCampaignError as err:
        return await run_in_threadpool(_refused, request, ctx, user, slug, err, 409)
    except DeliveryError as err:
        return await run_in_threadpool(_refused, request, ctx, user, slug, err, 502)
    except MailerError as err:
        return await run_in_threadpool(_refused, request, ctx, user, slug, err, 422)
    return _back(slug, "test")


@router.post("/campaigns/{slug}/approve", response_model=None)
async def approve(
    slug: str,
    request: Request,
    user: StaffUser = Depends(require_owner),
    ctx: WebContext = Depends(web_context),
) -> Response:
    if campaign_slug(ctx, slug) is None:
        return not_found(request)
    form = await posted_form(request)
    expected = form.first("content_hash")
    try:
        outcome = await run_in_threadpool(
            approve_shown, ctx.workspace, ctx.sessions, slug, expected_hash=expected, by=user.email
        )
    except MailerError as err:
        return await run_in_threadpool(_refused, request, ctx, user, slug, err, 409)
    if outcome.approval is None:
        failed = ApprovalError(
            f"Not approved: the check found {len(outcome.check.errors)} error(s); nothing changed",
            hint="fix what the check lists below, save, then approve again",
        )
        return await run_in_threadpool(_refused, request, ctx, user, slug, failed, 422)
    return _back(slug, "approved" if outcome.approval.new else "already-approved")


@router.post("/campaigns/{slug}/unapprove", response_model=None)
def unapprove(
    slug: str,
    request: Request,
    user: StaffUser = Depends(require_owner),
    ctx: WebContext = Depends(web_context),
) -> Response:
    if campaign_slug(ctx, slug) is None:
        return not_found(request)
    try:
        changed = unapprove_campaign(ctx.workspace, ctx.sessions, slug, by=user.email)
    except MailerError as err:
        return _refused(request, ctx, user, slug, err, 409)
    return _back(slug, "unapproved" if changed else "not-approved")
