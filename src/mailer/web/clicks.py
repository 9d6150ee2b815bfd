"""Click-through: ``GET /c/{token}.{index}`` records the click and redirects to the link as sent.

A preview's or test copy's click token (tokens.KIND_PREVIEW_CLICK) redirects the same way and
records nothing, so staff can try every link of a preview. Before the campaign has been sent
there are no stored links yet: the campaign file is rendered as it is now and its link at that
index is the target (what the preview showed, unless the file was edited since).

The target is looked up by index in the campaign run's stored links, never taken from the URL,
so a changed token or index can only be a 404 (with no Location header), never a redirect
elsewhere. A booking link (a call to action, or the booking page) redirects to the link as sent
plus a signed click reference the booking tool passes back (mailer.bookings.refs): one HMAC
and a cached template, nothing more written.

The write is two INSERTs in one short transaction; a campaign's links are cached in memory
because they never change once the run exists. On SQLite the writes of one process are queued
on a lock rather than spinning in SQLite's busy handler.
"""

from __future__ import annotations

import threading
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit
from weakref import WeakKeyDictionary

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import Engine, bindparam, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from mailer.bookings.refs import Ref, booking_redirect
from mailer.campaigns.campaign import load_campaign
from mailer.campaigns.files import CampaignFiles
from mailer.campaigns.render import render_campaign
from mailer.errors import MailerError, TokenError
from mailer.states import EventKind
from mailer.store.models import CampaignRun, Click, Event, Subscriber, utcnow
from mailer.tokens import read_click_token
from mailer.web.context import WebContext
from mailer.web.unsubscribe import not_found

router = APIRouter()

MAX_CACHED_CAMPAIGNS = 256


@dataclass(frozen=True)
class Target:
    campaign_id: int
    url: str
    place: str
    slug: str = ""


@dataclass(frozen=True)
class _Run:
    id: int
    links: dict[int, dict[str, Any]]


_runs: WeakKeyDictionary[sessionmaker[Session], dict[str, _Run]] = WeakKeyDictionary()
_sqlite_locks: WeakKeyDictionary[sessionmaker[Session], threading.Lock] = WeakKeyDictionary()
_guard = threading.Lock()


def safe_url(url: str) -> bool:
    """Only absolute http(s) URLs without control characters or spaces are redirect targets."""
    if not url or any(ord(char) < 0x21 or ord(char) == 0x7F for char in url):
        return False
    parts = urlsplit(url)
    return parts.scheme.lower() in {"http", "https"} and bool(parts.netloc)


def _run(sessions: sessionmaker[Session], slug: str) -> _Run | None:
    with _guard:
        cached = _runs.setdefault(sessions, {}).get(slug)
    if cached is not None:
        return cached
    with sessions() as session:
        row = session.execute(
            select(CampaignRun.id, CampaignRun.links).where(CampaignRun.slug == slug)
        ).first()
    if row is None:
        return None
    links: dict[int, dict[str, Any]] = {}
    for link in row.links or []:
        # Checked once here: a stored target that is not http(s) is never redirected to.
        usable = isinstance(link, dict) and isinstance(link.get("index"), int)
        if usable and safe_url(str(link.get("url") or "")):
            links[link["index"]] = link
    found = _Run(int(row.id), links)
    with _guard:
        runs = _runs.setdefault(sessions, {})
        if len(runs) >= MAX_CACHED_CAMPAIGNS:
            runs.clear()
        runs[slug] = found
    return found


def resolve(ctx: WebContext, token: str) -> tuple[Target, int] | None:
    """(target, subscriber id) of a click token, or None when it must be a 404."""
    try:
        found = read_click_token(ctx.key, token)
    except TokenError:
        return None
    if found.preview or not found.campaign or found.link_index is None:
        return None
    run = _run(ctx.sessions, found.campaign)
    if run is None:
        return None
    link = run.links.get(found.link_index)
    if link is None:
        return None
    place = str(link.get("place") or "")[:100]
    return Target(run.id, str(link["url"]), place, found.campaign), found.subscriber_id


def record_click(
    sessions: sessionmaker[Session], target: Target, subscriber_id: int, link_index: int
) -> None:
    """One Click and one Event; an erased subscriber's click is kept without their id."""
    params = {
        "campaign_id": target.campaign_id,
        "subscriber_id": subscriber_id,
        "link_index": link_index,
        "place": target.place,
        "url": target.url,
        "now": utcnow(),
        "raw": {"link_index": link_index, "place": target.place},
    }
    engine: Engine = sessions.kw["bind"]
    with sqlite_write_lock(sessions) or nullcontext(), engine.begin() as connection:
        connection.execute(_INSERT_CLICK, params)
        connection.execute(_INSERT_EVENT, params)


# Built once: SQLAlchemy then reuses the compiled form (building a statement per click costs
# more than the INSERTs themselves).
_KNOWN = select(Subscriber.id).where(Subscriber.id == bindparam("subscriber_id")).scalar_subquery()
_INSERT_CLICK = insert(Click).values(
    campaign_id=bindparam("campaign_id"),
    subscriber_id=_KNOWN,
    link_index=bindparam("link_index"),
    place=bindparam("place"),
    url=bindparam("url"),
    clicked_at=bindparam("now", type_=Click.__table__.c.clicked_at.type),
)
_INSERT_EVENT = insert(Event).values(
    source="web",
    kind=EventKind.CLICKED,
    campaign_id=bindparam("campaign_id"),
    subscriber_id=_KNOWN,
    occurred_at=bindparam("now", type_=Event.__table__.c.occurred_at.type),
    raw=bindparam("raw", type_=Event.__table__.c.raw.type),
)


def _is_sqlite(sessions: sessionmaker[Session]) -> bool:
    bind = sessions.kw.get("bind")
    return bind is not None and getattr(bind.dialect, "name", "") == "sqlite"


def sqlite_write_lock(sessions: sessionmaker[Session]) -> threading.Lock | None:
    """On SQLite, the lock this process's writers queue on (clicks, booking webhooks); None
    on a server database."""
    if not _is_sqlite(sessions):
        return None
    with _guard:
        return _sqlite_locks.setdefault(sessions, threading.Lock())


# ``:path``: a token with a slash in it ("/c/abc/") is a 404 here like any bad token, not the
# framework's 307 to the path without the slash (a bad token is never a redirect).
@router.get("/c/{token:path}", response_model=None)
async def click(token: str, request: Request) -> Response:
    """Record, then redirect. On SQLite the work (well under a millisecond, and serialized by
    SQLite anyway) runs on the event loop; a server database gets a worker thread. The context
    is read from app.state directly: the cheapest path on the hottest endpoint."""
    ctx: WebContext = request.app.state.context
    if _is_sqlite(ctx.sessions):
        return click_now(ctx, token)
    return await run_in_threadpool(click_now, ctx, token)


def click_now(ctx: WebContext, token: str) -> Response:
    resolved = resolve(ctx, token)
    if resolved is None:
        return preview_click(ctx, token)  # a 404 unless it is a preview's link
    target, subscriber_id = resolved
    index = int(token.rpartition(".")[2])
    try:
        record_click(ctx.sessions, target, subscriber_id, index)
    except IntegrityError:  # the run was deleted since it was cached
        forget_runs(ctx.sessions)
        return not_found(ctx)
    url = booking_redirect(
        ctx.key,
        target.url,
        target.place,
        ctx.settings.booking.url,
        target.slug,
        Ref(subscriber_id, target.campaign_id, index),
    )
    response = RedirectResponse(url, status_code=302)
    response.headers["Cache-Control"] = "private, no-store"
    return response


def preview_click(ctx: WebContext, token: str) -> Response:
    """A preview's or test copy's click: a redirect to the link, nothing recorded; else 404."""
    try:
        found = read_click_token(ctx.key, token)
    except TokenError:
        return not_found(ctx)
    if not found.preview or found.link_index is None:
        return not_found(ctx)
    url = preview_target(ctx, found.campaign, found.link_index)
    if url is None:
        return not_found(ctx)
    response = RedirectResponse(url, status_code=302)
    response.headers["Cache-Control"] = "private, no-store"
    return response


def preview_target(ctx: WebContext, slug: str, index: int) -> str | None:
    """The link ``index`` of a campaign: as sent when it has a run, else as its file renders
    (tens of milliseconds, on the event loop under SQLite: acceptable for staff trying a
    preview, which is the only way here)."""
    run = _run(ctx.sessions, slug) if slug else None
    if run is not None:
        link = run.links.get(index)
        return str(link["url"]) if link is not None else None
    path = CampaignFiles.of(ctx.workspace).find(slug)  # None for a name that is not a slug
    if path is None:
        return None
    try:
        rendered = render_campaign(ctx.workspace, load_campaign(path))
    except MailerError:
        return None
    urls = {link.index: link.url for link in rendered.links}
    url = urls.get(index, "")
    return url if safe_url(url) else None


def forget_runs(sessions: sessionmaker[Session]) -> None:
    """Drop the cached links (after a campaign run was deleted)."""
    with _guard:
        _runs.pop(sessions, None)
