"""Stand-in for the staffauth branch's web/staff/auth.py (replaced at merge).

The interface is the real one: ``StaffUser``, the ``current_staff`` dependency, ``require_owner``,
``render`` (a staff page with user, csrf_token and the clinic's name and colour) and a CSRF check
for every POST under /staff. Here the signed-in person comes from a test header,
``X-Stand-In-Staff: <email> <role>`` (never deployed: the real module uses session cookies).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, HTTPException, Request
from fastapi.responses import HTMLResponse

from mailer.staff.accounts import Role
from mailer.web.context import PAGES, WebContext
from mailer.web.staff.forms import posted_form

STAND_IN_HEADER = "X-Stand-In-Staff"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
STAFF_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' https: data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


@dataclass(frozen=True)
class StaffUser:
    email: str
    name: str
    role: Role
    session_id: str
    csrf_token: str


def _token(email: str) -> str:
    return hmac.new(b"stand-in", email.encode(), hashlib.sha256).hexdigest()


def current_staff(request: Request) -> StaffUser:
    email, _, role = request.headers.get(STAND_IN_HEADER, "").partition(" ")
    if not email or role not in {r.value for r in Role}:
        raise HTTPException(401, "sign in first")
    return StaffUser(email, email.partition("@")[0], Role(role), "stand-in", _token(email))


def require_owner(user: StaffUser = Depends(current_staff)) -> StaffUser:
    if user.role != Role.OWNER:
        raise HTTPException(403, "only an owner may do this")
    return user


async def check_csrf(request: Request) -> None:
    """Every POST under /staff carries the session's token (form field or header)."""
    if request.method != "POST":
        return
    user = current_staff(request)
    sent = request.headers.get(CSRF_HEADER, "")
    if not sent:
        form = await posted_form(request)
        sent = form.first(CSRF_FIELD)
    if not hmac.compare_digest(sent, user.csrf_token):
        raise HTTPException(403, "missing or wrong CSRF token")


def render(
    request: Request, template_name: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    ctx: WebContext = request.app.state.context
    user = current_staff(request)
    html = PAGES.get_template(template_name).render(
        organization=ctx.settings.organization,
        user=user,
        csrf_token=user.csrf_token,
        **context,
    )
    return HTMLResponse(
        html, status_code=status_code, headers={"Content-Security-Policy": STAFF_CSP}
    )
