"""Endpoints: webhooks (the web endpoints listed in the README).

``POST /webhooks/sendgrid``: the signature is checked over the raw bytes before anything is
parsed; a request that fails it gets a 403 and changes nothing. A missing or broken public key
is a 503 (SendGrid keeps retrying for a while, so no event is lost while it is being fixed).
A verified body that is not a JSON array of events is a 400; within an array, an element that is
not a usable event is skipped and logged (its position and why, never its content) and the rest
are stored. No input, however malformed, is a 500.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from mailer.events.ingest import ingest_events
from mailer.events.sendgrid_events import PayloadError, parse_batch
from mailer.events.sendgrid_signature import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    KeyConfigError,
    SignatureError,
    load_public_key,
    verify,
)
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


@router.post("/webhooks/sendgrid")
async def sendgrid_events(request: Request, ctx: WebContext = Depends(web_context)) -> JSONResponse:
    try:
        key = load_public_key(ctx.settings.sendgrid.webhook_public_key)
    except KeyConfigError as err:
        return _refuse(503, str(err))
    try:
        body = await _read_body(request)
    except _TooLarge:
        return _refuse(413, f"body over {MAX_BODY_BYTES} bytes")
    try:
        verify(
            key,
            request.headers.get(SIGNATURE_HEADER),
            request.headers.get(TIMESTAMP_HEADER),
            body,
        )
    except SignatureError as err:
        return _refuse(403, f"refused: {err}")
    try:
        batch = parse_batch(body)
    except PayloadError as err:
        return _refuse(400, str(err))
    for skipped in batch.skipped:
        log.warning(
            "SendGrid webhook: element %d of %d skipped: %s",
            skipped.position,
            batch.received,
            skipped.reason,
        )
    result = await run_in_threadpool(ingest_events, ctx.sessions, batch.events)
    result.received = batch.received
    result.skipped = len(batch.skipped)
    return JSONResponse(result.as_dict())
