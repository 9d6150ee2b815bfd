"""The FastAPI application; all web wiring happens here."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response
from sqlalchemy.exc import OperationalError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mailer.store.db import open_database
from mailer.tokens import signing_key
from mailer.web import archive, clicks, health, signup, staff, unsubscribe, webhooks
from mailer.web import bookings as booking_webhooks
from mailer.web.context import WebContext
from mailer.workspace import Workspace

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "Permissions-Policy": "interest-cohort=()",
}
_ENCODED_HEADERS = [
    (name.lower().encode("latin-1"), value.encode("latin-1"))
    for name, value in SECURITY_HEADERS.items()
]


class SecurityHeaders:
    """Plain ASGI middleware: adds SECURITY_HEADERS to every HTTP response, keeping any of
    them a route set itself. (Starlette's BaseHTTPMiddleware, behind `@app.middleware`, runs
    each response through extra tasks and streams and cost more than half the click rate.)"""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers.extend(item for item in _ENCODED_HEADERS if item[0] not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(workspace: Workspace, *, host: str) -> FastAPI:
    """The app for one workspace: its settings, database and signing key. ``host`` is where it
    will listen: without MAILER_SECRET_KEY only loopback is allowed (ConfigError otherwise)."""
    settings = workspace.settings
    key = signing_key(workspace, "serve", host=host)  # refuse before opening anything
    _, sessions = open_database(workspace.database_url, auto_upgrade=settings.database.auto_upgrade)
    context = WebContext(workspace, settings, sessions, key)
    app = FastAPI(title="mailer", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.context = context

    # Added first, so it runs inside SecurityHeaders: /staff responses get their headers first.
    app.add_middleware(staff.StaffGuard)
    app.add_middleware(SecurityHeaders)

    @app.get("/healthz", response_class=PlainTextResponse)
    def healthz() -> str:
        return "ok"

    # webhooks last: its /webhooks/{source} would shadow any fixed /webhooks/... route after it
    # (the booking tools' /webhooks/calendly, /calcom and /booking come before it).
    for module in (unsubscribe, clicks, signup, archive, health, booking_webhooks, webhooks):
        app.include_router(module.router)
    staff.install(app)
    app.add_exception_handler(OperationalError, _busy_or_raise)
    return app


# Seconds a client is told to wait: SQLite's busy timeout, which a request already waited.
BUSY_RETRY_AFTER = 30


async def _busy_or_raise(request: Request, err: Exception) -> Response:
    """A request that waited SQLite's whole busy timeout (30 s) behind another writer is a 503
    with Retry-After, not a 500: a subscriber's form says to try again in a minute, and a
    provider's or booking tool's webhook is sent again. The long writer is a first import of a
    large list, one transaction by design (subscribers/csv_import.py). Any other database
    error stays an error."""
    if "database is locked" not in str(err):
        raise err
    return PlainTextResponse(
        "Busy for a moment: the mailing list is being updated. Please try again in a minute.",
        status_code=503,
        headers={"Retry-After": str(BUSY_RETRY_AFTER)},
    )
