"""One-click unsubscribe: ``GET /u/{token}`` asks, ``POST /u/{token}`` does it (RFC 8058).

A GET never changes anything: mail scanners and link previews follow links. The POST needs no
cookie and no CSRF token (the signed token is the credential), so a mailbox provider's
``List-Unsubscribe=One-Click`` POST works as well as the page's own button.

The page shown right after the button's POST offers an undo, carrying a signed undo token (kind
``r``) that names the status change just made; ``POST /u/{token}/resubscribe`` with it works for
UNDO_WINDOW and records the press as consent. The rules are subscribers.unsubscribe's; this
module reads the tokens and the form and shows the page.

A preview token (a preview or `--test-to` copy) gets a page saying what the link would do, on
GET and POST alike, and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.parser import BytesParser
from email.policy import HTTP
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from mailer.errors import TokenError
from mailer.states import SubscriberStatus
from mailer.store.models import Subscriber
from mailer.subscribers.unsubscribe import UNDO_WINDOW, undo_unsubscribe, unsubscribe_by_link
from mailer.tokens import (
    KIND_PREVIEW_UNSUBSCRIBE,
    KIND_UNDO,
    KIND_UNSUBSCRIBE,
    Token,
    make_token,
    read_token,
)
from mailer.web.context import WebContext, web_context

router = APIRouter()

MAX_FORM_BYTES = 16 * 1024
ONE_CLICK = ("List-Unsubscribe", "One-Click")


@dataclass(frozen=True)
class Outcome:
    """What the page shows: the status after the request, whether it changed, and the undo
    token when the page may offer an undo."""

    status: str
    changed: bool
    masked_email: str
    undo: str = ""


async def read_form(request: Request) -> dict[str, list[str]]:
    """A small urlencoded or multipart form body, without python-multipart; {} if unreadable."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return {}
    content_type = request.headers.get("content-type", "")
    if content_type.lower().startswith("multipart/form-data"):
        return _parse_multipart(content_type, body)
    try:
        return parse_qs(body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        return {}


def _parse_multipart(content_type: str, body: bytes) -> dict[str, list[str]]:
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1", "replace")
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    form: dict[str, list[str]] = {}
    if not message.is_multipart():
        return form
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            form.setdefault(name, []).append(payload.decode("utf-8", "replace"))
    return form


def is_one_click(form: dict[str, list[str]]) -> bool:
    name, value = ONE_CLICK
    return value in form.get(name, [])


def mask_email(email: str) -> str:
    """``jane@example.com`` -> ``j***@example.com``: enough to recognize, not to harvest."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


def read_unsubscribe_token(ctx: WebContext, token: str) -> Token | None:
    """A subscriber's or a preview's unsubscribe token; None for anything else."""
    try:
        found = read_token(ctx.key, token)
    except TokenError:
        return None
    return found if found.kind in (KIND_UNSUBSCRIBE, KIND_PREVIEW_UNSUBSCRIBE) else None


def _find(ctx: WebContext, session: Session, token: str) -> tuple[Subscriber, str] | None:
    found = read_unsubscribe_token(ctx, token)
    if found is None or found.preview:
        return None
    subscriber = session.get(Subscriber, found.subscriber_id)
    return (subscriber, found.campaign) if subscriber is not None else None


def undo_token(ctx: WebContext, subscriber_id: int, change_id: int, campaign: str) -> str:
    return make_token(ctx.key, KIND_UNDO, subscriber_id, f"{change_id}:{campaign}")


def _undo_change(ctx: WebContext, undo: str, subscriber_id: int, campaign: str) -> int | None:
    """The StatusChange id an undo token names, if it was made for this person and token."""
    try:
        found = read_token(ctx.key, undo, KIND_UNDO)
    except TokenError:
        return None
    change, _, for_campaign = found.campaign.partition(":")
    if found.subscriber_id != subscriber_id or for_campaign != campaign or not change.isdigit():
        return None
    return int(change)


def look(ctx: WebContext, token: str) -> Outcome | None:
    with ctx.sessions() as session:
        found = _find(ctx, session, token)
        if found is None:
            return None
        subscriber, _ = found
        return Outcome(subscriber.status, False, mask_email(subscriber.email))


def unsubscribe_by_token(ctx: WebContext, token: str, *, one_click: bool) -> Outcome | None:
    """Unsubscribe the token's subscriber (once); None for a bad token or an erased person.

    Bounced or complained addresses keep their status (see unsubscribe_by_link).
    """
    with ctx.sessions() as session, session.begin():
        found = _find(ctx, session, token)
        if found is None:
            return None
        subscriber, campaign = found
        done = unsubscribe_by_link(session, subscriber, campaign=campaign, one_click=one_click)
        undo = ""
        if done.undoable_change is not None:
            undo = undo_token(ctx, subscriber.id, done.undoable_change, campaign)
        return Outcome(subscriber.status, done.changed, mask_email(subscriber.email), undo)


def resubscribe_by_token(ctx: WebContext, token: str, undo: str, ip: str = "") -> Outcome | None:
    """Undo the web unsubscribe the undo token names (see undo_unsubscribe); None for a bad
    unsubscribe token. ``changed`` False: refused, nothing written."""
    with ctx.sessions() as session, session.begin():
        found = _find(ctx, session, token)
        if found is None:
            return None
        subscriber, campaign = found
        change_id = _undo_change(ctx, undo, subscriber.id, campaign)
        changed = change_id is not None and undo_unsubscribe(
            session, subscriber, change_id, consent_ip=ip
        )
        return Outcome(subscriber.status, changed, mask_email(subscriber.email))


BAD_LINK = "This link is not valid. Please use the link exactly as it appears in the email."


def not_found(ctx: WebContext, message: str = BAD_LINK) -> HTMLResponse:
    """The plain 404 page (for bad tokens, unknown issues); never a redirect."""
    return ctx.page("notfound.html", status_code=404, title="Not found", message=message)


def _page(
    ctx: WebContext, token: str, outcome: Outcome, *, after: str, status_code: int = 200
) -> HTMLResponse:
    response = ctx.page(
        "unsubscribe.html",
        status_code=status_code,
        title="Unsubscribe",
        action=f"/u/{token}",
        outcome=outcome,
        after=after,
        undo_minutes=int(UNDO_WINDOW.total_seconds() // 60),
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def preview_page(ctx: WebContext, found: Token) -> HTMLResponse:
    """What a preview's unsubscribe link would do, in words; nothing changes."""
    response = ctx.page(
        "preview_link.html",
        title="Preview link",
        campaign=found.campaign,
        undo_minutes=int(UNDO_WINDOW.total_seconds() // 60),
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/u/{token}", response_class=HTMLResponse)
def unsubscribe_page(token: str, ctx: WebContext = Depends(web_context)) -> HTMLResponse:
    """The page with one button; changes nothing."""
    found = read_unsubscribe_token(ctx, token)
    if found is not None and found.preview:
        return preview_page(ctx, found)
    outcome = look(ctx, token)
    return not_found(ctx) if outcome is None else _page(ctx, token, outcome, after="ask")


@router.post("/u/{token}", response_class=HTMLResponse)
async def unsubscribe_post(
    token: str, request: Request, ctx: WebContext = Depends(web_context)
) -> HTMLResponse:
    """Unsubscribe now: the page's button or RFC 8058's ``List-Unsubscribe=One-Click``."""
    one_click = is_one_click(await read_form(request))
    found = read_unsubscribe_token(ctx, token)
    if found is not None and found.preview:
        return preview_page(ctx, found)  # 200, as RFC 8058 expects, and nothing changed
    outcome = await run_in_threadpool(unsubscribe_by_token, ctx, token, one_click=one_click)
    return not_found(ctx) if outcome is None else _page(ctx, token, outcome, after="unsubscribed")


@router.post("/u/{token}/resubscribe", response_class=HTMLResponse)
async def resubscribe_post(
    token: str, request: Request, ctx: WebContext = Depends(web_context)
) -> HTMLResponse:
    """The undo button of the page shown right after unsubscribing; 410 when refused."""
    undo = "".join(((await read_form(request)).get("undo") or [""])[:1])
    found = read_unsubscribe_token(ctx, token)
    if found is not None and found.preview:
        return preview_page(ctx, found)
    ip = request.client.host if request.client else ""
    outcome = await run_in_threadpool(resubscribe_by_token, ctx, token, undo, ip)
    if outcome is None:
        return not_found(ctx)
    if outcome.changed or outcome.status == SubscriberStatus.ACTIVE:  # done, or done before
        return _page(ctx, token, outcome, after="resubscribed")
    return _page(ctx, token, outcome, after="undo-refused", status_code=410)
