"""The FastAPI application; all web wiring happens here."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from fastapi.responses import PlainTextResponse

from mailer.db import open_database
from mailer.tracking import SecretKey
from mailer.web import archive, clicks, signup, unsubscribe, webhooks
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


def create_app(workspace: Workspace) -> FastAPI:
    """The app for one workspace: its settings, database and signing key."""
    settings = workspace.settings
    _, sessions = open_database(workspace.database_url)
    context = WebContext(workspace, settings, sessions, SecretKey.for_workspace(workspace))
    app = FastAPI(title="mailer", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.context = context

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    @app.get("/healthz", response_class=PlainTextResponse)
    def healthz() -> str:
        return "ok"

    for module in (unsubscribe, clicks, webhooks, signup, archive):
        app.include_router(module.router)
    return app
