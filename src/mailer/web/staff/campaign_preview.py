"""The campaign page's preview and check, compiled from the typed fields without saving.

- ``GET|POST /staff/campaigns/{slug}/preview``: the email as a subscriber gets it, the saved
  file (GET, the iframe's first load) or the unsaved fields (POST, as staff type), compiled by
  app/preview.py: the compile a send stores and an approval fingerprints. It is its own document
  in the iframe, served with a policy that allows no script and framing by this site only.
- ``POST /staff/campaigns/{slug}/check``: the check's findings for the unsaved fields, a
  fragment the page swaps in next to the fields they are about. The page asks for it once the
  preview of the same fields has loaded, so the preview's compile serves it (_Recent).

Nothing here writes anything; both POSTs still carry the CSRF token, as every POST under /staff.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from dataclasses import astuple
from html import escape

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from mailer.app.campaign_edit import Edit, edited
from mailer.app.preview import Preview, compile_preview, sample_person
from mailer.campaigns.campaign import Campaign
from mailer.campaigns.check import CheckResult, Finding
from mailer.campaigns.files import CampaignFiles
from mailer.errors import MailerError
from mailer.web.archive import valid_slug
from mailer.web.context import WebContext, web_context
from mailer.web.staff.auth import StaffUser, current_staff, render
from mailer.web.staff.forms import Form, posted_form

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


def typed_fields(form: Form) -> Edit:
    return Edit(form.first("subject"), form.first("preheader"), form.first("body"))


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
    form = await posted_form(request)
    return await run_in_threadpool(_preview_edit, ctx, slug, typed_fields(form))


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
    form = await posted_form(request)
    return await run_in_threadpool(_check_edit, request, ctx, slug, typed_fields(form))


def _check_edit(request: Request, ctx: WebContext, slug: str, typed: Edit) -> HTMLResponse:
    try:
        preview = recent_preview(ctx, slug, typed)
    except MailerError as err:
        return HTMLResponse(f"<p>{escape(err.message)}</p>", status_code=422)
    context = {"findings": grouped(preview.check), "verdict": verdict(preview.check)}
    return render(request, "staff/_check.html", context)
