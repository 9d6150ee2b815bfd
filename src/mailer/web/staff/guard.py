"""The one gate of every request under /staff: CSRF, body size, security headers.

A plain ASGI middleware (web/app.py adds it inside SecurityHeaders), so it covers every route
under /staff, those added later included, before FastAPI runs any of them:

- A state-changing request (any method but GET, HEAD, OPTIONS) is refused with a 403 page,
  and nothing runs, when it comes from another site: an ``Origin`` (or, without one, a
  ``Referer``) other than this server's (web.base_url's, or the address the request was made
  to), ``Origin: null``, or ``Sec-Fetch-Site: cross-site``/``same-site``.
- It must carry a CSRF token, in the form field ``csrf_token`` (urlencoded or multipart) or in
  the header ``X-CSRF-Token`` (htmx sends it from the layout's ``hx-headers``), equal to the
  signed-in session's token; on the sign-in and set-password pages, before there is a session,
  to the form cookie's (double submit). Otherwise 403 (mailer.web.staff.auth).
- Its body is read here (at most MAX_BODY bytes, else 413) and handed on unchanged; except
  on the STREAMED paths (the CSV upload, up to ``[staff] upload_max_mb``), whose body is never
  buffered: the token comes from the header or the form's first field (the page's form puts
  it first), read from the start of the stream, and the rest streams on to the route, whose
  reader (web/staff/uploads.py) caps the bytes it reads.
- Every response under /staff gets STAFF_HEADERS where the route did not set the header
  itself: a route may send a stricter policy of its own (the campaign preview, an HTML email
  in a same-origin frame, sets its own CSP and ``X-Frame-Options: SAMEORIGIN``).

tests/staff/test_csrf.py enumerates the app's state-changing /staff routes to prove each one
refuses a request without the token, or from another Origin.
"""

from __future__ import annotations

import hmac
from email import policy
from email.parser import BytesParser
from urllib.parse import parse_qs, urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mailer.web.staff import auth
from mailer.web.staff.look import STATIC_PATH
from mailer.web.staff.uploads import boundary_of

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_BODY = 12 * 1024 * 1024  # an uploaded article export is well under this
PREFIX = "/staff"
STREAMED = frozenset({"/staff/subscribers/import"})
FIRST_FIELD_MAX = 64 * 1024  # the form's first field (the token) is within this many bytes
FORM_OVERHEAD = 64 * 1024  # the fields and part headers beside an upload's file
STAFF_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; "
        "connect-src 'self'; frame-src 'self'; form-action 'self'; frame-ancestors 'none'; "
        "base-uri 'none'"
    ),
    "Cache-Control": "no-store",  # pages hold tokens and the list; never from a shared cache
    "Cross-Origin-Opener-Policy": "same-origin",
    # Not the public pages' no-referrer: under it a browser sends "Origin: null" with the staff
    # pages' own forms, which the check above refuses. same-origin still sends nothing (not the
    # path of a set-password link) to other sites.
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
_ENCODED = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in STAFF_HEADERS.items()]
_STATIC = [item for item in _ENCODED if item[0] != b"cache-control"]

FOREIGN = (
    "This request came from another website, so nothing was done. If you pressed a button "
    "on the staff pages, open them again from their own address and try once more."
)
NO_TOKEN = (
    "This form has expired or was not sent from the staff pages, so nothing was done. Go "
    "back, reload the page and try again."
)


class StaffGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path != PREFIX and not path.startswith(PREFIX + "/"):
            await self.app(scope, receive, send)
            return
        headers = _STATIC if path.startswith(STATIC_PATH + "/") else _ENCODED

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", ())}
                extra = [item for item in headers if item[0] not in present]
                message = {**message, "headers": [*message.get("headers", ()), *extra]}
            await send(message)

        if scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send_with_headers)
            return
        request = Request(scope)
        if _foreign(request):
            await _refuse(request, 403, FOREIGN)(scope, receive, send_with_headers)
            return
        if path in STREAMED:
            await _pass_streamed(self.app, request, scope, receive, send_with_headers)
            return
        body = await _read_body(request, receive)
        if body is None:
            await _refuse(request, 413, "What was sent is too big.")(
                scope, receive, send_with_headers
            )
            return
        live = await run_in_threadpool(auth.lookup_session, request)
        sent = request.headers.get(auth.CSRF_HEADER) or _token_in_body(
            request.headers.get("content-type", ""), body
        )
        expected = auth.expected_tokens(request, live)
        if not sent or not any(hmac.compare_digest(sent, token) for token in expected):
            await _refuse(request, 403, NO_TOKEN)(scope, receive, send_with_headers)
            return
        await self.app(scope, _replay(body, receive), send_with_headers)


async def _pass_streamed(
    app: ASGIApp, request: Request, scope: Scope, receive: Receive, send: Send
) -> None:
    """A STREAMED upload: the CSRF check without buffering the body."""
    limit = auth.web_context(request).settings.staff.upload_max_mb * 1024 * 1024
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit + FORM_OVERHEAD:
        size = limit // (1024 * 1024)
        await _refuse(request, 413, f"The file is bigger than {size} MB, so nothing was done.")(
            scope, receive, send
        )
        return
    live = await run_in_threadpool(auth.lookup_session, request)
    sent = request.headers.get(auth.CSRF_HEADER) or ""
    head, ended = b"", False
    if not sent:
        content_type = request.headers.get("content-type", "")
        head, ended = await _read_head(receive)
        sent = _token_in_body(content_type, _first_part(head, boundary_of(content_type)))
    expected = auth.expected_tokens(request, live)
    if not sent or not any(hmac.compare_digest(sent, token) for token in expected):
        await _refuse(request, 403, NO_TOKEN)(scope, receive, send)
        return
    await app(scope, _replay_then_stream(head, ended, receive), send)


async def _read_head(receive: Receive) -> tuple[bytes, bool]:
    """The body's first FIRST_FIELD_MAX bytes (or all of it), and whether it ended there."""
    chunks: list[bytes] = []
    size = 0
    while size < FIRST_FIELD_MAX:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), True
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), True
    return b"".join(chunks), False


def _first_part(head: bytes, boundary: bytes | None) -> bytes:
    """The head of a multipart body cut after its first part and closed: a whole form of one
    field, for _token_in_body."""
    if boundary is None:
        return b""
    delimiter = b"\r\n--" + boundary
    first = head.find(b"--" + boundary)
    second = head.find(delimiter, first + 1) if first >= 0 else -1
    if second < 0:
        return b""
    return head[:second] + delimiter + b"--\r\n"


def _replay_then_stream(head: bytes, ended: bool, receive: Receive) -> Receive:
    """What _read_head took, then the rest of the body as the client sends it."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": head, "more_body": not ended}
        return await receive()

    return replay


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else ""


def _foreign(request: Request) -> bool:
    """Sent by another site: by its Origin, else its Referer, or by Sec-Fetch-Site."""
    if request.headers.get("sec-fetch-site", "").lower() in ("cross-site", "same-site"):
        return True
    ours = {
        _origin(auth.web_context(request).settings.web.base_url),
        f"{request.url.scheme}://{request.headers.get('host', '')}".lower(),
    }
    origin = request.headers.get("origin")
    if origin is not None:
        return origin.strip().lower() not in ours
    referer = request.headers.get("referer")
    return referer is not None and _origin(referer) not in ours


async def _read_body(request: Request, receive: Receive) -> bytes | None:
    """The whole body, or None when it is (or says it is) over MAX_BODY."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > MAX_BODY:
        return None
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body once more for the route, then whatever the client sends next (disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _token_in_body(content_type: str, body: bytes) -> str:
    """The ``csrf_token`` field of an urlencoded or multipart form ("" when absent)."""
    kind = content_type.partition(";")[0].strip().lower()
    if kind == "application/x-www-form-urlencoded":
        values = parse_qs(body.decode("latin-1"), keep_blank_values=True).get(auth.CSRF_FIELD)
        return values[0] if values else ""
    if kind == "multipart/form-data":
        head = b"Content-Type: " + content_type.encode("latin-1", errors="replace") + b"\r\n\r\n"
        message = BytesParser(policy=policy.HTTP).parsebytes(head + body)
        if not message.is_multipart():
            return ""
        for part in message.iter_parts():
            if part.get_param("name", header="content-disposition") == auth.CSRF_FIELD:
                payload = part.get_payload(decode=True)
                return payload.decode("latin-1").strip() if isinstance(payload, bytes) else ""
    return ""


def _refuse(request: Request, status: int, reason: str) -> HTMLResponse:
    template = "staff/403.html" if status == 403 else "staff/error.html"
    return auth.render(request, template, {"reason": reason, "status": status}, status)
