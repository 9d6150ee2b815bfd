"""Sign in, sign out, set a password from a one-time link; the clinic's colour stylesheet.

``GET/POST /staff/login`` (fields "Email" and "Password", button "Sign in": the words are a
contract, see DESIGN.md), ``POST /staff/logout``, ``GET/POST /staff/welcome/{token}`` (the link
`mailer staff add` and `reset` print; the GET only shows the form), ``GET /staff/theme.css``.
The rules are in mailer.staff; CSRF was checked by mailer.web.staff.guard before these run.

A wrong password and an unknown address get the same answer. While an address is throttled
the answer is a 429 page with Retry-After, whatever the password.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from mailer.errors import InputError, TokenError
from mailer.staff import invites, sessions, throttle
from mailer.staff.passwords import MIN_LENGTH
from mailer.staff.signin import Outcome, sign_in
from mailer.store.db import transaction
from mailer.web.staff.auth import (
    LOGIN_PATH,
    clear_session_cookie,
    form_fields,
    lookup_session,
    now,
    render,
    safe_next,
    session_secret,
    set_session_cookie,
    web_context,
)
from mailer.web.staff.look import THEME_PATH, theme_css

router = APIRouter()
log = logging.getLogger("mailer.web.staff")
Form = Annotated[dict[str, str], Depends(form_fields)]

NO_MATCH = (
    "That email and password do not match a staff account. Check both and try again "
    "(passwords are case-sensitive)."
)
NOTICES = {
    "password": "Your password is set. Sign in with it.",
    "out": "You are signed out.",
}


@router.get("/login")
def login_page(request: Request, next: str = "", done: str = "") -> Response:
    if lookup_session(request) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return render(
        request,
        "staff/login.html",
        {"next": safe_next(next), "email": "", "notice": NOTICES.get(done, "")},
    )


@router.post("/login")
async def login_submit(request: Request, form: Form) -> Response:
    email = form.get("email", "").strip()[:320]
    password = form.get("password", "")[:2000]
    target = safe_next(form.get("next"))
    ctx = web_context(request)
    result = await run_in_threadpool(
        sign_in,
        ctx.sessions,
        email,
        password,
        now=now(request),
        idle=ctx.settings.staff.session_idle,
    )
    if result.outcome is Outcome.WAIT:
        assert result.wait is not None
        seconds = max(1, int(result.wait.total_seconds()) + 1)
        minutes = (seconds + 59) // 60
        response = render(
            request,
            "staff/429.html",
            {
                "wait_text": f"{minutes} minute{'s' if minutes != 1 else ''}",
                "limit": throttle.LIMIT,
                "window_minutes": int(throttle.WINDOW.total_seconds() // 60),
            },
            status_code=429,
        )
        response.headers["Retry-After"] = str(seconds)
        log.warning("staff sign-in throttled (too many failures for one address)")
        return response
    if result.outcome is Outcome.NO_MATCH:
        log.info("staff sign-in refused: no match")
        return render(
            request,
            "staff/login.html",
            {"next": target, "email": email, "error": NO_MATCH},
            status_code=400,
        )
    assert result.session is not None
    log.info("staff sign-in: session %s", result.session.id[:12])
    signed_in = RedirectResponse(target, status_code=303)
    set_session_cookie(request, signed_in, result.secret)
    return signed_in


@router.post("/logout")
def logout(request: Request) -> Response:
    secret = session_secret(request)
    if secret is not None:
        with transaction(web_context(request).sessions) as db:
            sessions.end(db, secret)
    response = RedirectResponse(f"{LOGIN_PATH}?done=out", status_code=303)
    clear_session_cookie(response)
    return response


@router.get("/welcome/{token}")
def welcome_page(request: Request, token: str) -> Response:
    ctx = web_context(request)
    try:
        with transaction(ctx.sessions) as db:
            account = invites.check(db, ctx.key, token, now=now(request))
            email, name = account.email, account.name
    except TokenError as err:
        return _link_invalid(request, err)
    return _welcome(request, token, email, name)


@router.post("/welcome/{token}")
async def welcome_submit(request: Request, token: str, form: Form) -> Response:
    password = form.get("password", "")
    again = form.get("password_again", "")
    return await run_in_threadpool(_set_password, request, token, password, again)


def _set_password(request: Request, token: str, password: str, again: str) -> Response:
    ctx = web_context(request)
    at = now(request)
    try:
        with transaction(ctx.sessions) as db:
            account = invites.check(db, ctx.key, token, now=at)
            email, name = account.email, account.name
            if password != again:
                raise InputError("the two passwords are not the same; type them again")
            invites.redeem(db, ctx.key, token, password, now=at)
    except TokenError as err:
        return _link_invalid(request, err)
    except InputError as err:  # the transaction rolled back: the link still works
        return _welcome(request, token, email, name, error=_sentence(err.message), status=400)
    log.info("staff password set from a one-time link")
    return RedirectResponse(f"{LOGIN_PATH}?done=password", status_code=303)


def _welcome(
    request: Request, token: str, email: str, name: str, *, error: str = "", status: int = 200
) -> Response:
    return render(
        request,
        "staff/welcome.html",
        {
            "action": f"{invites.PATH}{token}",
            "email": email,
            "name": name,
            "error": error,
            "min_length": MIN_LENGTH,
        },
        status_code=status,
    )


def _link_invalid(request: Request, err: TokenError) -> Response:
    return render(
        request,
        "staff/link_invalid.html",
        {"reason": _sentence(err.message), "hint": err.hint or ""},
        status_code=410,
    )


def _sentence(text: str) -> str:
    text = text.removeprefix("password not accepted: ")
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


@router.get(THEME_PATH.removeprefix("/staff"))
def theme(request: Request) -> Response:
    brand = web_context(request).settings.organization.brand_color
    return Response(
        theme_css(brand),
        media_type="text/css",
        headers={"Cache-Control": "public, max-age=86400"},  # the URL names the colour
    )
