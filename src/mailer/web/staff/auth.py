"""Who is signed in to the staff pages, and how a staff page is made: what every staff route
builds on.

- ``current_staff`` (a FastAPI dependency) is the signed-in person as a ``StaffUser``. Without a
  live session, a GET (or HEAD) is sent to ``/staff/login?next=<path>``, anything else gets a 403
  page; the route does not run either way.
- ``require_owner`` is ``current_staff`` for owners only (an editor gets a 403 page).
- ``render`` makes a page from ``web/templates/staff/`` with ``user``, ``csrf_token``, the
  clinic's name and colour and the static URLs in its context.
- CSRF is checked before any route runs, for every state-changing request under /staff, by
  mailer.web.staff.guard; ``expected_tokens`` says which tokens it accepts.

Cookies (HttpOnly, SameSite=Lax, Path=/staff, Secure when web.base_url is https):
``mailer_staff`` holds the session's secret, signed with the key policy of mailer.tokens (kind
``s``), and has no expiry of its own (the session row's idle limit rules, server-side).
``mailer_staff_form`` holds the CSRF token of the pages shown before there is a session
(sign-in, set password), signed too (kind ``f``): the form repeats it (double submit), so
another site cannot sign a browser in to an account of its choosing (login CSRF).

The clock is ``app.state.staff_clock`` when a test sets one, else the wall clock.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mailer.errors import TokenError
from mailer.staff import sessions
from mailer.staff.accounts import Role
from mailer.store.db import transaction
from mailer.store.models import utcnow
from mailer.tokens import make_token, read_token
from mailer.web.context import PAGES, WebContext
from mailer.web.staff.look import brand_text_colour, static_url, theme_url

SESSION_COOKIE = "mailer_staff"
FORM_COOKIE = "mailer_staff_form"
KIND_SESSION = "s"
KIND_FORM = "f"
COOKIE_PATH = "/staff"
HOME = "/staff"
LOGIN_PATH = "/staff/login"
WELCOME_PREFIX = "/staff/welcome/"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
NOT_SIGNED_IN = (
    "You are not signed in (or your session has ended), so nothing was done. Sign in and try again."
)
_LOOKED_UP = "staff_session"  # request.state: the session looked up for this request (or None)


@dataclass(frozen=True)
class StaffUser:
    email: str
    name: str
    role: Role
    session_id: str
    csrf_token: str

    @property
    def is_owner(self) -> bool:
        return self.role is Role.OWNER

    @property
    def label(self) -> str:
        """How the pages name the person: their name, else their address."""
        return self.name or self.email


class StaffRefusal(Exception):
    """Raised by a staff dependency to answer with ``response`` instead of running the route."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


async def refusal_handler(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StaffRefusal)
    return exc.response


def web_context(request: Request) -> WebContext:
    context: WebContext = request.app.state.context
    return context


def now(request: Request) -> datetime:
    clock: Callable[[], datetime] | None = getattr(request.app.state, "staff_clock", None)
    return clock() if clock is not None else utcnow()


# --- the session -----------------------------------------------------------------------------


def session_secret(request: Request) -> str | None:
    """The session secret in the cookie, if the cookie is there and signed with our key."""
    value = request.cookies.get(SESSION_COOKIE)
    if not value or len(value) > 200:
        return None
    try:
        return read_token(web_context(request).key, value, KIND_SESSION).campaign or None
    except TokenError:
        return None


def lookup_session(request: Request) -> sessions.LiveSession | None:
    """This request's live session (looked up once per request, marked as seen), or None.
    Blocking: call it from a thread (sync dependencies and routes run in one)."""
    state = request.scope.setdefault("state", {})
    if _LOOKED_UP in state:
        found: sessions.LiveSession | None = state[_LOOKED_UP]
        return found
    secret = session_secret(request)
    live = None
    if secret is not None:
        ctx = web_context(request)
        with transaction(ctx.sessions) as db:
            live = sessions.touch(
                db, secret, now=now(request), idle=ctx.settings.staff.session_idle
            )
    state[_LOOKED_UP] = live
    return live


def current_staff(request: Request) -> StaffUser:
    """FastAPI dependency: the signed-in person. Anonymous GET/HEAD: 303 to the sign-in page
    (and back here after); any other anonymous request: a 403 page. Nothing else runs."""
    live = lookup_session(request)
    if live is None:
        if request.method in ("GET", "HEAD"):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            response: Response = RedirectResponse(
                f"{LOGIN_PATH}?next={quote(safe_next(target), safe='/')}", status_code=303
            )
        else:
            response = render(
                request,
                "staff/403.html",
                {"reason": NOT_SIGNED_IN},
                status_code=403,
            )
        if SESSION_COOKIE in request.cookies:
            clear_session_cookie(response)
        raise StaffRefusal(response)
    user = StaffUser(live.email, live.name, live.role, live.id, live.csrf_token)
    request.state.staff_user = user
    return user


def require_owner(request: Request, user: StaffUser = Depends(current_staff)) -> StaffUser:
    """FastAPI dependency: the signed-in person, who must be an owner (editors get a 403 page
    and the route does not run)."""
    if not user.is_owner:
        reason = (
            "Only an owner can do this, so nothing was done. Ask an owner of the newsletter "
            "to do it, or to make you an owner."
        )
        raise StaffRefusal(render(request, "staff/403.html", {"reason": reason}, 403))
    return user


# --- CSRF tokens -----------------------------------------------------------------------------


def is_pre_session_path(path: str) -> bool:
    """The pages used before there is a session: sign-in and set password."""
    return path == LOGIN_PATH or path.startswith(WELCOME_PREFIX)


def form_token(request: Request) -> str | None:
    """The sign-in form's CSRF token from its signed cookie, if present and ours."""
    value = request.cookies.get(FORM_COOKIE)
    if not value or len(value) > 200:
        return None
    try:
        return read_token(web_context(request).key, value, KIND_FORM).campaign or None
    except TokenError:
        return None


def expected_tokens(request: Request, live: sessions.LiveSession | None) -> list[str]:
    """The CSRF tokens this request may carry: its session's, and on the sign-in and
    set-password pages the form cookie's (a tab opened before signing in still works)."""
    tokens = [live.csrf_token] if live is not None else []
    if is_pre_session_path(request.url.path) and (token := form_token(request)):
        tokens.append(token)
    return tokens


# --- pages -----------------------------------------------------------------------------------


def render(
    request: Request,
    template_name: str,
    context: Mapping[str, Any] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """A staff page (``staff/...`` templates) with ``user`` (None when signed out),
    ``csrf_token`` (the session's, else the sign-in form's, whose cookie is set when new),
    ``organization`` (the clinic's name, colour...) and ``static_url``/``theme_url``."""
    values = dict(context or {})
    user = values.pop("user", None) or getattr(request.state, "staff_user", None)
    new_form_token = None
    if user is not None:
        csrf = user.csrf_token
    else:
        csrf = form_token(request) or ""
        if not csrf:
            csrf = new_form_token = secrets.token_urlsafe(32)
    html = PAGES.get_template(template_name).render(**_base_values(request, user, csrf), **values)
    response = HTMLResponse(html, status_code=status_code)
    if new_form_token is not None:
        key = web_context(request).key
        _set_cookie(request, response, FORM_COOKIE, make_token(key, KIND_FORM, 0, new_form_token))
    return response


def _base_values(request: Request, user: StaffUser | None, csrf: str) -> dict[str, Any]:
    organization = web_context(request).settings.organization
    return {
        "organization": organization,
        "user": user,
        "csrf_token": csrf,
        "csrf_field": CSRF_FIELD,
        "static_url": static_url,
        "theme_url": theme_url(organization.brand_color),
        "on_brand": brand_text_colour(organization.brand_color),
        "path": request.url.path,
    }


# --- cookies and redirects -------------------------------------------------------------------


def set_session_cookie(request: Request, response: Response, secret: str) -> None:
    value = make_token(web_context(request).key, KIND_SESSION, 0, secret)
    _set_cookie(request, response, SESSION_COOKIE, value)
    response.delete_cookie(FORM_COOKIE, path=COOKIE_PATH)


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH)


def _set_cookie(request: Request, response: Response, name: str, value: str) -> None:
    response.set_cookie(
        name,
        value,
        path=COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=web_context(request).settings.web.base_url.startswith("https://"),
    )


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a path under /staff on this server, else /staff. An
    address elsewhere ("//evil.example", "https://...", "/\\evil.example") is refused."""
    if not value or len(value) > 2000 or "\\" in value or any(ord(c) < 0x21 for c in value):
        return HOME
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or value.startswith("//"):
        return HOME
    if parts.path != HOME and not parts.path.startswith(HOME + "/"):
        return HOME
    return value


async def form_fields(request: Request) -> dict[str, str]:
    """FastAPI dependency: an urlencoded form's fields (the first value of each). The guard
    has already capped the body's size."""
    body = await request.body()
    parsed = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    return {name: values[0] for name, values in parsed.items()}
