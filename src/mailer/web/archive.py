"""The public archive: ``GET /archive`` lists sent issues, ``GET /archive/{slug}`` shows one.

Only campaigns that were sent (have a run) are public, so drafts never show. An issue is the
HTML stored with its run when sending started, exactly what subscribers got, made public: links
go straight to their destinations, and what only makes sense in someone's inbox goes: the
greeting (the paragraph holding the first-name placeholder: a web page greets nobody), the
paragraphs marked ``class="email-only"`` (why you receive it), and the paragraph with the
unsubscribe link, which becomes "subscribe" and "more issues" links. The campaign file is never
rendered again here: an edit after sending is not published.

The stored HTML is MJML's output, which we produced, so a paragraph is a flat ``<p ...>...</p>``
run without nested paragraphs; a regex over it is enough (an lxml round trip would rewrite the
Outlook conditional comments the email depends on).
"""

from __future__ import annotations

import html as html_lib
import re
from dataclasses import dataclass
from datetime import datetime

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import select

from mailer.campaigns.personalize import (
    CLICK,
    FALLBACK_FIRST_NAME,
    FIRST_NAME,
    FIRST_NAME_HTML,
    UNSUBSCRIBE_URL,
)
from mailer.delivery.types import fill
from mailer.store.models import CampaignRun
from mailer.web.context import WebContext, web_context
from mailer.web.unsubscribe import not_found

router = APIRouter()

SLUG = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*")
MAX_SLUG = 200
MAX_LISTED = 500
_PARAGRAPH = r"<p\b[^>]*>(?:(?!</p>).)*?{}(?:(?!</p>).)*?</p>"
_GREETING = re.compile(
    "|".join(_PARAGRAPH.format(re.escape(name)) for name in (FIRST_NAME_HTML, FIRST_NAME)),
    re.DOTALL,
)
_EMAIL_ONLY = re.compile(r"<p\b[^>]*\bclass=\"[^\"]*\bemail-only\b[^\"]*\"[^>]*>.*?</p>", re.DOTALL)
_UNSUBSCRIBE_PARAGRAPH = re.compile(
    r"(<p\b[^>]*>)(?:(?!</p>).)*?" + re.escape(UNSUBSCRIBE_URL) + r"(?:(?!</p>).)*?</p>",
    re.DOTALL,
)
# Outlook-only markup that a browser ignores and the W3C checker calls an error: the VML
# namespaces, mso-* CSS, and MJML's vertical-align attribute on buttons' cells (their style
# already carries it).
_OUTLOOK_ONLY = (
    re.compile(r'\s+xmlns:[ov]="[^"]*"'),
    re.compile(r"mso-[a-z-]+\s*:\s*[^;\"'}]*;?\s*"),
    re.compile(r'(<td\b[^>]*?)\s+vertical-align="[^"]*"'),
)
_STORED_CLICK = re.compile(r"https?://[^\"'\s<>]*?/c/" + re.escape(CLICK) + r"\.(\d+)")


@dataclass(frozen=True)
class Issue:
    slug: str
    subject: str
    sent: datetime


def valid_slug(slug: str) -> bool:
    """Letters, digits, '-', '_' and single inner dots: no '..', no '/', nothing hidden."""
    return len(slug) <= MAX_SLUG and SLUG.fullmatch(slug) is not None


def sent_issues(ctx: WebContext) -> list[Issue]:
    with ctx.sessions() as session:
        rows = session.execute(
            select(CampaignRun.slug, CampaignRun.subject, CampaignRun.created_at)
            .order_by(CampaignRun.created_at.desc(), CampaignRun.id.desc())
            .limit(MAX_LISTED)
        ).all()
    return [Issue(row.slug, row.subject, row.created_at) for row in rows]


def issue_html(ctx: WebContext, run: CampaignRun) -> str:
    """The public copy of a sent issue, as it was sent."""
    return stored_public_copy(ctx, run)


def stored_public_copy(ctx: WebContext, run: CampaignRun) -> str:
    """The HTML as sent, links made direct and placeholders neutral."""
    stored = str((run.template or {}).get("html") or "")
    by_index = {
        str(link.get("index")): str(link.get("url") or "")
        for link in run.links or []
        if isinstance(link, dict)
    }
    archive_url = f"{ctx.settings.web.base_url.rstrip('/')}/archive"

    def direct(match: re.Match[str]) -> str:
        return html_lib.escape(by_index.get(match[1]) or archive_url)

    base = ctx.settings.web.base_url.rstrip("/")

    def web_links(match: re.Match[str]) -> str:
        return (
            f'{match[1]}<a href="{html_lib.escape(base)}/subscribe">Subscribe to the newsletter</a>'
            f' &nbsp;&middot;&nbsp; <a href="{html_lib.escape(archive_url)}">More issues</a></p>'
        )

    web_copy = _GREETING.sub("", stored, count=1)
    for outlook_only in _OUTLOOK_ONLY:
        web_copy = outlook_only.sub(lambda m: m[1] if m.re.groups else "", web_copy)
    web_copy = _EMAIL_ONLY.sub("", web_copy)
    web_copy = _UNSUBSCRIBE_PARAGRAPH.sub(web_links, web_copy)
    values = {
        # A first name used inside the body (not the greeting) still reads naturally.
        FIRST_NAME: FALLBACK_FIRST_NAME,
        FIRST_NAME_HTML: FALLBACK_FIRST_NAME,
        UNSUBSCRIBE_URL: f"{base}/subscribe",
        CLICK: "",
    }
    return fill(_STORED_CLICK.sub(direct, web_copy), values)


@router.get("/", include_in_schema=False)
def front_page() -> RedirectResponse:
    """The site's front page is the archive: what the newsletter is, with a subscribe link."""
    return RedirectResponse("/archive", status_code=307)


@router.get("/archive", response_class=HTMLResponse)
def archive_list(ctx: WebContext = Depends(web_context)) -> HTMLResponse:
    return ctx.page("archive.html", title="Newsletter archive", issues=sent_issues(ctx))


@router.get("/archive/{slug}", response_class=HTMLResponse)
def archive_issue(slug: str, ctx: WebContext = Depends(web_context)) -> HTMLResponse:
    if not valid_slug(slug):
        return not_found(ctx, "There is no such issue in the archive.")
    with ctx.sessions() as session:
        run = session.scalars(select(CampaignRun).where(CampaignRun.slug == slug)).first()
    if run is None:
        return not_found(ctx, "There is no such issue in the archive.")
    return HTMLResponse(issue_html(ctx, run))
