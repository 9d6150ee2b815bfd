"""What every endpoint needs, built once per app: settings, database, signing key, pages."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session, sessionmaker

from mailer.config import Settings
from mailer.templating import sandboxed_environment
from mailer.tokens import SecretKey
from mailer.workspace import Workspace

# Not strict: the page templates test optional values (``{% if error %}``) some pages leave out.
PAGES = sandboxed_environment([Path(__file__).parent / "templates"], strict=False)


@dataclass
class WebContext:
    workspace: Workspace
    settings: Settings
    sessions: sessionmaker[Session]
    key: SecretKey

    def page(self, template: str, *, status_code: int = 200, **values: Any) -> HTMLResponse:
        """An HTML page in the organization's name and colour (templates in web/templates/)."""
        html = PAGES.get_template(template).render(
            organization=self.settings.organization, booking=self.settings.booking, **values
        )
        return HTMLResponse(html, status_code=status_code)


async def web_context(request: Request) -> WebContext:
    """FastAPI dependency: the app's WebContext. Async, so FastAPI calls it on the event loop
    rather than sending it to a worker thread on every request."""
    context: WebContext = request.app.state.context
    return context
