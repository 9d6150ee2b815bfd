"""The public archive: ``GET /archive`` lists sent issues, ``GET /archive/{slug}`` shows one.

Only campaigns that were sent (have a run) are public, so drafts never show. An issue is the
campaign file rendered again as a public copy (no tokens, "Hi there"); if the file is gone or
no longer renders, the HTML stored at send time with its placeholders made neutral.
"""

from __future__ import annotations

import html as html_lib
import re
import threading
from dataclasses import dataclass
from datetime import datetime

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from mailer.compose.campaign import load_campaign
from mailer.compose.personalize import (
    CLICK,
    FALLBACK_FIRST_NAME,
    FIRST_NAME,
    FIRST_NAME_HTML,
    UNSUBSCRIBE_URL,
)
from mailer.compose.render import render_campaign
from mailer.delivery.types import fill
from mailer.errors import MailerError
from mailer.models import CampaignRun
from mailer.web.context import WebContext, web_context
from mailer.web.unsubscribe import not_found

router = APIRouter()

SLUG = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*")
MAX_SLUG = 200
MAX_LISTED = 500
_STORED_CLICK = re.compile(r"https?://[^\"'\s<>]*?/c/" + re.escape(CLICK) + r"\.(\d+)")
_cache: dict[tuple[str, str, int], str] = {}
_cache_lock = threading.Lock()


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
    """The public copy of a sent issue: from the campaign file, else as stored at send."""
    path = ctx.workspace.campaigns_dir / f"{run.slug}.md"
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        return stored_public_copy(ctx, run)
    key = (str(ctx.workspace.root), run.slug, stamp)
    with _cache_lock:
        cached = _cache.get(key)
    if cached is not None:
        return cached
    try:
        html, _ = render_campaign(ctx.workspace, load_campaign(path)).public_copy()
    except MailerError:
        return stored_public_copy(ctx, run)
    with _cache_lock:
        if len(_cache) > 64:
            _cache.clear()
        _cache[key] = html
    return html


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

    values = {
        FIRST_NAME: FALLBACK_FIRST_NAME,
        FIRST_NAME_HTML: FALLBACK_FIRST_NAME,
        UNSUBSCRIBE_URL: archive_url,
        CLICK: "",
    }
    return fill(_STORED_CLICK.sub(direct, stored), values)


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
