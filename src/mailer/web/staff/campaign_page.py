"""The campaign page, /staff/campaigns/{slug}: edit with a live preview, test, approve.

The file campaigns/<slug>.md stays the truth: the page shows it as it is now (an edit made in a
text editor shows at the next load), every form carries the ``content_hash`` of the file as
shown, and app/campaign_edit.py refuses to save over, test or approve a file that changed since
(409, nothing written). What is saved is what `mailer send` reads.

- ``POST /staff/campaigns/{slug}``: Save (subject, preheader, body).
- ``GET|POST /staff/campaigns/{slug}/preview``: the email as a subscriber gets it, the saved
  file (GET, the iframe's first load) or the unsaved fields (POST, as staff type), compiled by
  app/preview.py, the compile a send and an approval use; nothing is saved. It is its own
  document in the iframe, with a policy that allows no script and framing only by this site.
- ``POST /staff/campaigns/{slug}/check``: the check's findings for the unsaved fields, a
  fragment the page swaps in next to the fields they are about.
- ``POST .../test``: "Send test to me" (editors and owners); ``POST .../approve`` and
  ``.../unapprove``: owners only (require_owner: 403 for an editor).
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from dataclasses import astuple
from html import escape
from typing import Any

from fastapi import APIRouter, Depends, Request
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
from mailer.campaigns.campaign import Campaign
from mailer.campaigns.check import MAX_SUBJECT, CheckResult, Finding
from mailer.campaigns.draft import READ_FULL
from mailer.campaigns.files import CampaignFiles
from mailer.campaigns.markdown import CTA, button
from mailer.delivery.ledger import Ledger
from mailer.errors import ApprovalError, DeliveryError, MailerError, StaleCampaignError
from mailer.staff.accounts import Role
from mailer.web.archive import valid_slug
from mailer.web.context import WebContext, web_context
from mailer.web.staff.auth import StaffUser, current_staff, render, require_owner
from mailer.web.staff.display import clinic_zone, formatter
from mailer.web.staff.forms import Form, read_form

router = APIRouter()

# The preview is an email, not a page of ours: inline styles and remote images as a mail program
# shows them, no script at all, framed only by the campaign page (same origin).
PREVIEW_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src https: http: data:; "
        "font-src https: data:; form-action 'none'; frame-ancestors 'self'"
    ),
    "X-Frame-Options": "SAMEORIGIN",
    "Cache-Control": "no-store",
}
# What the campaign page adds to the staff pages' policy: the preview frame (this site) and the
# check's fetch (this site).
PAGE_SOURCES = {"frame-src": "'self'", "connect-src": "'self'", "script-src": "'self'"}
# Findings shown next to the field they are about; the rest under "Check".
FIELD_OF_CODE = {
    "missing-subject": "subject",
    "subject-too-long": "subject",
    "no-preheader": "preheader",
    "bad-link": "body",
    "image-missing-alt": "body",
    "unfilled-placeholder": "body",
    "digest-entry-without-link": "body",
    "html-too-large": "body",
}
# The check speaks of the file's front matter (for people at a text editor); here, of fields.
PAGE_WORDS = {
    "missing-subject": ("The subject is empty.", "Type the subject above."),
    "no-preheader": (
        "No preheader: inboxes will show the first words of the email instead.",
        "Type one sentence above that makes people want to open it.",
    ),
}
_FILE_PREFIX = re.compile(r"^.+?\.md(?::\d+)?: ")
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
RECENT = 8
RECENT_SECONDS = 10.0
_HEAD = re.compile(r"<head(\s[^>]*)?>", re.IGNORECASE)


class _Recent:
    """The last few previews of unsaved fields, for RECENT_SECONDS: the page asks for the check
    once the preview of the same fields has loaded, so one compile serves both requests. The key
    holds the campaign file's size and modification time: any change to it is a new compile."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: OrderedDict[tuple[object, ...], tuple[float, Preview]] = OrderedDict()

    def get(self, key: tuple[object, ...]) -> Preview | None:
        with self._lock:
            found = self._items.get(key)
        if found is None or time.monotonic() - found[0] > RECENT_SECONDS:
            return None
        return found[1]

    def put(self, key: tuple[object, ...], preview: Preview) -> None:
        with self._lock:
            self._items[key] = (time.monotonic(), preview)
            self._items.move_to_end(key)
            while len(self._items) > RECENT:
                self._items.popitem(last=False)


_recent = _Recent()


def recent_preview(ctx: WebContext, slug: str, typed: Edit) -> Preview:
    """The preview of ``typed`` over the file as it is: compiled, or the same one a moment ago.
    Raises CampaignError for an unreadable file."""
    files = CampaignFiles.of(ctx.workspace)
    state = files.path(slug).stat()
    fields = typed.normalized()
    key = (str(files.path(slug)), state.st_mtime_ns, state.st_size, *astuple(fields))
    found = _recent.get(key)
    if found is not None:
        return found
    campaign = edited(files.load(slug), fields)
    preview = compile_preview(ctx.workspace, campaign, sample_person(ctx.sessions))
    _recent.put(key, preview)
    return preview


def usable_slug(slug: str) -> bool:
    """A campaign file's name: no folders, no hidden files, not itself a path to a .md file."""
    return valid_slug(slug) and not slug.lower().endswith(".md")


def campaign_slug(ctx: WebContext, slug: str) -> str | None:
    """``slug`` when campaigns/<slug>.md exists, else None (a 404)."""
    if not usable_slug(slug) or not CampaignFiles.of(ctx.workspace).path(slug).is_file():
        return None
    return slug


def not_found(request: Request) -> HTMLResponse:
    return render(
        request,
        "staff/campaign_missing.html",
        {"message": "There is no such campaign in campaigns/."},
        404,
    )


def grouped(result: CheckResult) -> dict[str, list[Finding]]:
    """The findings by the field they are about, in the page's words."""
    groups: dict[str, list[Finding]] = {"subject": [], "preheader": [], "body": [], "general": []}
    for finding in result.findings:
        message, hint = PAGE_WORDS.get(finding.code, (finding.message, finding.hint))
        message = _FILE_PREFIX.sub("", message)  # the page is about that one file already
        shown = Finding(finding.level, finding.code, message, hint)
        groups[FIELD_OF_CODE.get(finding.code, "general")].append(shown)
    return groups


def verdict(result: CheckResult) -> str:
    errors, warnings = len(result.errors), len(result.warnings)
    if errors:
        return f"{errors} error(s) to fix before it can be approved; {warnings} warning(s)."
    return f"No errors: it can be approved. {warnings} warning(s)."


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
    status = campaign.status
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


def _edit(form: Form) -> Edit:
    return Edit(form.first("subject"), form.first("preheader"), form.first("body"))


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
    form = await read_form(request)
    typed, expected = _edit(form), form.first("content_hash")
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


@router.get("/campaigns/{slug}/preview", response_model=None)
def preview_saved(
    slug: str,
    user: StaffUser = Depends(current_staff),
    ctx: WebContext = Depends(web_context),
) -> Response:
    if campaign_slug(ctx, slug) is None:
        return _preview_response(_message_page("There is no such campaign."), 404)
    try:
        campaign = CampaignFiles.of(ctx.workspace).load(slug)
    except MailerError as err:
        return _preview_response(_message_page(err.message, err.hint or ""), 422)
    return _preview_of(ctx, campaign)


@router.post("/campaigns/{slug}/preview", response_model=None)
async def preview_unsaved(
    slug: str,
    request: Request,
    user: StaffUser = Depends(current_staff),
    ctx: WebContext = Depends(web_context),
) -> Response:
    if campaign_slug(ctx, slug) is None:
        return _preview_response(_message_page("There is no such campaign."), 404)
    form = await read_form(request)
    return await run_in_threadpool(_preview_edit, ctx, slug, _edit(form))


def _preview_edit(ctx: WebContext, slug: str, typed: Edit) -> Response:
    try:
        preview = recent_preview(ctx, slug, typed)
    except MailerError as err:
        return _preview_response(_message_page(err.message, err.hint or ""), 422)
    return _preview_page(preview)


def _preview_of(ctx: WebContext, campaign: Campaign) -> Response:
    return _preview_page(compile_preview(ctx.workspace, campaign, sample_person(ctx.sessions)))


def _preview_page(preview: Preview) -> Response:
    if not preview.compiled:
        problems = [f for f in preview.check.errors if f.code == "template-error"]
        first = problems[0] if problems else None
        return _preview_response(
            _message_page(
                first.message if first else "The email could not be compiled.",
                first.hint if first else "",
            ),
            200,
        )
    return _preview_response(_links_open_outside(preview.html), 200)


def _links_open_outside(html: str) -> str:
    """The email as compiled, with one addition for the frame: its links open a new tab rather
    than inside the preview (where most sites refuse to be framed)."""
    return _HEAD.sub(lambda match: match[0] + '<base target="_blank">', html, count=1)


def _message_page(message: str, hint: str = "") -> str:
    extra = f"<p>{escape(hint)}</p>" if hint else ""
    return (
        '<!doctype html><html lang="en"><meta charset="utf-8"><body style="font: 16px/1.5 '
        f'system-ui, sans-serif; padding: 16px"><p><strong>{escape(message)}</strong></p>'
        f"{extra}</body></html>"
    )


def _preview_response(html: str, status_code: int) -> HTMLResponse:
    return HTMLResponse(html, status_code=status_code, headers=PREVIEW_HEADERS)


@router.post("/campaigns/{slug}/check", response_class=HTMLResponse)
async def check_fragment(
    slug: str,
    request: Request,
    user: StaffUser = Depends(current_staff),
    ctx: WebContext = Depends(web_context),
) -> HTMLResponse:
    if campaign_slug(ctx, slug) is None:
        return not_found(request)
    form = await read_form(request)
    return await run_in_threadpool(_check_edit, request, ctx, slug, _edit(form))


def _check_edit(request: Request, ctx: WebContext, slug: str, typed: Edit) -> HTMLResponse:
    try:
        preview = recent_preview(ctx, slug, typed)
    except MailerError as err:
        return HTMLResponse(f"<p>{escape(err.message)}</p>", status_code=422)
    context = {"findings": grouped(preview.check), "verdict": verdict(preview.check)}
    return render(request, "staff/_check.html", context)


@router.post("/campaigns/{slug}/test", response_model=None)
async def send_test(
    slug: str,
    request: Request,
    user: StaffUser = Depends(current_staff),
    ctx: WebContext = Depends(web_context),
) -> Response:
    if campaign_slug(ctx, slug) is None:
        return not_found(request)
    form = await read_form(request)
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
    form = await read_form(request)
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
