"""Endpoints: the booking tools' webhooks, ``POST /webhooks/calendly``, ``/calcom``, ``/booking``.

Each request goes through the same steps, in this order, and stops at the first that fails:

    503  the tool's key is not set (MAILER_CALENDLY_SIGNING_KEY, MAILER_CALCOM_WEBHOOK_SECRET,
         MAILER_BOOKING_WEBHOOK_SECRET): nothing can be verified; the tool retries later
    413  a body over MAX_BODY_BYTES, refused from its Content-Length or as soon as the stream
         passes the limit (never read whole)
    403  a missing, malformed, wrong, stale or future signature (bookings.signatures)
    400  a verified body that is not the tool's JSON event (the field is named)
    202  a verified event of a type that neither creates nor cancels a booking: not stored
    200  stored, or recognized as already stored (a retry): the JSON says which

Nothing is stored before the signature is verified, and no key, body or address is logged.
The store runs in a worker thread, so a burst of bookings never holds up the event loop (and
the click redirects it serves).
"""

from __future__ import annotations

import logging
import time
from contextlib import nullcontext

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from mailer.bookings import calcom, calendly, generic
from mailer.bookings.model import (
    BookingEvent,
    BookingSource,
    Ignored,
    PayloadError,
    SignatureError,
)
from mailer.bookings.store import RecordResult, record_booking
from mailer.web.clicks import sqlite_write_lock
from mailer.web.context import WebContext

router = APIRouter()
log = logging.getLogger("mailer.web.bookings")

# A Calendly invitee or a Cal.com booking is a few KB; 256 KB leaves room for long answers.
MAX_BODY_BYTES = 256 * 1024


class _TooLarge(Exception):
    pass


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _TooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _answer(status: int, **document: object) -> JSONResponse:
    return JSONResponse(document, status_code=status, headers={"Cache-Control": "no-store"})


async def receive(request: Request, source: BookingSource) -> JSONResponse:
    ctx: WebContext = request.app.state.context
    secret = ctx.workspace.secrets.booking_secret(source.secret_variable)
    if not secret:
        return _answer(
            503,
            error=f"{source.name} bookings are not connected: {source.secret_variable} is not set",
        )
    try:
        body = await _read_body(request)
    except _TooLarge:
        return _answer(413, error=f"body over {MAX_BODY_BYTES} bytes")
    try:
        source.verify(
            secret.encode(),
            request.headers.get(source.signature_header),
            body,
            time.time(),
        )
    except SignatureError as err:
        log.warning("%s booking webhook refused: %s", source.name, err)
        return _answer(403, error=f"refused: {err}")
    try:
        event = source.parse(body)
    except PayloadError as err:
        log.warning("%s booking webhook: unusable body: %s", source.name, err)
        return _answer(400, error=str(err))
    if isinstance(event, Ignored):
        return _answer(202, ignored=event.event_type[:100])
    result = await run_in_threadpool(_record, ctx, event)
    return _answer(200, **result.as_dict())


def _record(ctx: WebContext, event: BookingEvent) -> RecordResult:
    """In a worker thread. On SQLite, queued on the lock the click redirects' writes take too:
    without it, concurrent deliveries spun in SQLite's busy handler (sleeps of 1 ms and more)."""
    with sqlite_write_lock(ctx.sessions) or nullcontext():
        return record_booking(ctx.sessions.kw["bind"], ctx.key, event, ctx.settings.booking.url)


@router.post("/webhooks/calendly")
async def calendly_webhook(request: Request) -> JSONResponse:
    return await receive(request, calendly.SOURCE)


@router.post("/webhooks/calcom")
async def calcom_webhook(request: Request) -> JSONResponse:
    return await receive(request, calcom.SOURCE)


@router.post("/webhooks/booking")
async def booking_webhook(request: Request) -> JSONResponse:
    return await receive(request, generic.SOURCE)
