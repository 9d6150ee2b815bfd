"""Endpoints: provider event webhooks, ``POST /webhooks/{source}`` (``/webhooks/sendgrid``...).

The source is looked up by name in the registry (events/sources/__init__.py): an unknown name
is a 404. Then, in this order, as each step must hold before the next may run:

1. the source is built from the settings: a missing or broken key is a 503 (the provider keeps
   retrying for a while, so no event is lost while it is being fixed);
2. the body is read, at most MAX_BODY_BYTES (413 beyond);
3. the signature is checked over the raw bytes before anything is parsed: a request that
   fails it gets a 403 and changes nothing;
4. the verified body is parsed: one that is not a batch of events is a 400; within a batch, an
   element that is not a usable event is skipped and logged (its position and why, never its
   content) and the rest are stored.

No input, however malformed, is a 500. The answer is the IngestResult's counts.

This router's one route matches every ``/webhooks/<name>``: app.py includes it after every
router with a fixed ``/webhooks/...`` path (bookings), which must win (tests check the order).
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from mailer.events.ingest import ingest
from mailer.events.sources import SOURCES
from mailer.events.sources.base import PayloadError, SignatureError, SourceConfigError
from mailer.web.context import WebContext, web_context

router = APIRouter()
log = logging.getLogger("mailer.web.webhooks")

MAX_BODY_BYTES = 10 * 1024 * 1024


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


def _refuse(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


@router.post("/webhooks/{source}")
async def provider_events(
    source: str, request: Request, ctx: WebContext = Depends(web_context)
) -> JSONResponse:
    factory = SOURCES.get(source)
    if factory is None:
        return _refuse(404, f"no event source named {source[:40]!r}")
    try:
        events = factory(ctx.settings)
    except SourceConfigError as err:
        return _refuse(503, str(err))
    try:
        body = await _read_body(request)
    except _TooLarge:
        return _refuse(413, f"body over {MAX_BODY_BYTES} bytes")
    try:
        events.verify(request.headers, body)
    except SignatureError as err:
        return _refuse(403, f"refused: {err}")
    try:
        batch = events.parse(body)
    except PayloadError as err:
        return _refuse(400, str(err))
    for skipped in batch.skipped:
        log.warning(
            "%s webhook: element %d of %d skipped: %s",
            events.name,
            skipped.position,
            batch.received,
            skipped.reason,
        )
    result = await run_in_threadpool(ingest, ctx.sessions, batch)
    return JSONResponse(result.as_dict())
