"""Endpoints: signup with double opt-in (the web endpoints listed in the README).

``GET/POST /subscribe`` asks for an address and consent and sends a confirmation email;
``GET /confirm/{token}`` shows a page with one button and changes nothing (mail scanners follow
links); its ``POST /confirm/{token}`` activates and sends the welcome email. The rules live in
mailer.subscribers.signup, the envelopes in mailer.campaigns.message, the sending in
mailer.app.mailing; this module is forms, pages, rate limits and when the two emails go.

The answer after a signup is the same "check your inbox" page whether the address is new,
pending, unsubscribed, complained, deleted or a bot's (honeypot): only "already subscribed"
differs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, BackgroundTasks, Depends, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from mailer.app.mailing import send_message
from mailer.app.sequences import WELCOME, enrol_person, mark_welcomed, run_pass, series_steps
from mailer.campaigns.links import with_utm
from mailer.campaigns.message import WELCOME_SLUG, signup_message
from mailer.delivery.types import MessageTemplate, Recipient
from mailer.errors import MailerError, TokenError
from mailer.states import SubscriberStatus
from mailer.subscribers.normalize import MAX_NAME, InvalidAddress, normalize_email
from mailer.subscribers.signup import (
    ConfirmResult,
    Outcome,
    Person,
    SignupResult,
    confirm,
    confirm_token,
    confirmable,
    consent_wording,
    record_signup,
)
from mailer.subscribers.typos import suggest_address
from mailer.tokens import unsubscribe_token
from mailer.web.context import WebContext, web_context
from mailer.web.unsubscribe import mask_email

router = APIRouter()
log = logging.getLogger("mailer.web.signup")
Context = Annotated[WebContext, Depends(web_context)]

HONEYPOT = "homepage"
MAX_BODY = 8_192
IP_LIMIT = (5, 600.0)  # valid signups per client IP per 10 minutes
ADDRESS_LIMIT = (3, 3600.0)  # signups (confirmation emails) per address per hour


# --- rate limits ---------------------------------------------------------------------------


class SlidingWindow:
    """At most ``limit`` hits per key in the last ``seconds``; in memory, per app instance."""

    def __init__(self, limit: int, seconds: float, max_keys: int = 50_000) -> None:
        self.limit, self.seconds, self.max_keys = limit, seconds, max_keys
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str, now: float | None = None) -> bool:
        """Count a hit for ``key``; False (not counted) when over the limit."""
        now = time.monotonic() if now is None else now
        with self._lock:
            if len(self._hits) >= self.max_keys:
                self._forget_idle(now)
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - self.seconds:
                hits.popleft()
            if len(hits) >= self.limit:
                return False
            hits.append(now)
            return True

    def _forget_idle(self, now: float) -> None:
        idle = [k for k, hits in self._hits.items() if not hits or hits[-1] <= now - self.seconds]
        for key in idle:
            del self._hits[key]
        if len(self._hits) >= self.max_keys:  # a flood of distinct keys: start afresh
            self._hits.clear()


@dataclass
class Limits:
    by_ip: SlidingWindow = field(default_factory=lambda: SlidingWindow(*IP_LIMIT))
    by_address: SlidingWindow = field(default_factory=lambda: SlidingWindow(*ADDRESS_LIMIT))


def _limits(request: Request) -> Limits:
    """This app's limits (kept on app.state, so each app instance counts on its own)."""
    limits: Limits | None = getattr(request.app.state, "signup_limits", None)
    if limits is None:
        limits = Limits()
        request.app.state.signup_limits = limits
    return limits


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


# --- emails ----------------------------------------------------------------------------------


def confirmation_email(ctx: WebContext, person: Person) -> tuple[MessageTemplate, Recipient]:
    url = f"{ctx.settings.web.base_url}/confirm/{confirm_token(ctx.key, person)}"
    subject = f"Please confirm your subscription to {ctx.settings.organization.name}"
    return _signup_email(ctx, "confirm", person, subject, confirm_url=url)


def welcome_email(ctx: WebContext, person: Person) -> tuple[MessageTemplate, Recipient]:
    subject = f"Welcome to the {ctx.settings.organization.name} newsletter"
    booking_url = with_utm(ctx.settings.booking.url, WELCOME_SLUG, "cta")
    return _signup_email(ctx, "welcome", person, subject, booking_url=booking_url)


def _signup_email(
    ctx: WebContext, kind: str, person: Person, subject: str, **values: str
) -> tuple[MessageTemplate, Recipient]:
    token = unsubscribe_token(ctx.key, person.subscriber_id)
    unsubscribe_url = f"{ctx.settings.web.base_url}/u/{token}"
    return signup_message(
        ctx.settings,
        ctx.workspace.templates_dir,
        kind,
        person,
        subject=subject,
        unsubscribe_url=unsubscribe_url,
        **values,
    )


Build = Callable[[WebContext, Person], tuple[MessageTemplate, Recipient]]


def mail_signup(ctx: WebContext, build: Build, person: Person) -> bool:
    """Build and send one signup email, after the page was answered (a background task).

    A failure is logged (no address) and not raised: the signup is stored and the person can
    ask again. That holds for a template staff broke too (logged with its file and line).
    """
    try:
        template, recipient = build(ctx, person)
    except MailerError as err:
        log.warning("signup email to subscriber %s not sent: %s", person.subscriber_id, err.message)
        return False
    return send_message(ctx.workspace, template, [recipient]).sent


def welcome(ctx: WebContext, person: Person) -> None:
    """Right after a confirmation: a pass of the welcome series sends its steps due at once
    (step 0, ``after: 0s``). Without an approved step 0 (no series yet, or only drafts, as in
    a new workspace), the built-in welcome email goes, so nobody who confirms hears nothing,
    and the enrolment records it: a step 0 approved later is not sent to them as a second
    welcome (one welcome either way). A failure is logged, never raised: the scheduler's next
    pass sends what is due."""
    steps = series_steps(ctx.workspace).get(WELCOME, [])
    if not any(step.status == "approved" and not step.after for step in steps):
        if mail_signup(ctx, welcome_email, person):
            try:
                mark_welcomed(ctx.sessions, person.subscriber_id)
            except Exception as err:  # a background task: logged, never raised (see above)
                log.warning("welcome email not recorded for the series: %s", type(err).__name__)
        return
    try:
        run_pass(ctx.workspace, ctx.sessions, only=WELCOME)
    except MailerError as err:
        log.warning("welcome series pass after a signup failed: %s", err.message)


# --- pages -----------------------------------------------------------------------------------


def _form(
    ctx: WebContext,
    *,
    status_code: int = 200,
    error: str = "",
    error_field: str = "",
    email: str = "",
    first_name: str = "",
    suggestion: str = "",
    consent_given: bool = False,
) -> HTMLResponse:
    return ctx.page(
        "signup.html",
        status_code=status_code,
        title="Subscribe",
        consent=consent_wording(ctx.settings.organization.name),
        error=error,
        error_field=error_field,
        email=email,
        first_name=first_name,
        honeypot=HONEYPOT,
        suggestion=suggestion,
        consent_given=consent_given,
    )


def _sent(ctx: WebContext) -> HTMLResponse:
    return ctx.page("signup_sent.html", title="Check your inbox")


def _too_many(ctx: WebContext) -> HTMLResponse:
    response = ctx.page("signup_limited.html", status_code=429, title="Please wait a little")
    response.headers["Retry-After"] = "600"
    return response


@router.get("/subscribe", response_class=HTMLResponse)
def subscribe_form(ctx: Context) -> HTMLResponse:
    return _form(ctx)


async def _read_capped(request: Request, limit: int) -> bytes | None:
    """The request body, or None as soon as it grows past ``limit`` (never read whole)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def _clean_name(raw: str) -> str:
    """Whitespace collapsed, control characters dropped (PostgreSQL refuses NUL in text)."""
    return " ".join("".join(ch if ch.isprintable() else " " for ch in raw).split())


def _field(form: dict[str, list[str]], name: str) -> str:
    values = form.get(name)
    return values[0] if values else ""


@router.post("/subscribe", response_class=HTMLResponse)
async def subscribe(request: Request, background: BackgroundTasks, ctx: Context) -> HTMLResponse:
    body = await _read_capped(request, MAX_BODY)
    if body is None:
        return _form(ctx, status_code=413, error="The form was too large. Please try again.")
    form = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    email = _field(form, "email").strip()
    first_name = _clean_name(_field(form, "first_name"))
    if _field(form, HONEYPOT).strip():
        return _sent(ctx)  # a bot: answer as if all went well, keep and send nothing
    echo = {"email": email[:320], "first_name": first_name[:MAX_NAME]}
    try:
        address = normalize_email(email)
    except InvalidAddress:
        return _form(
            ctx,
            status_code=422,
            error="Please enter a valid email address, like name@example.com.",
            error_field="email",
            email=echo["email"],
            first_name=echo["first_name"],
        )
    if len(first_name) > MAX_NAME:
        return _form(
            ctx,
            status_code=422,
            error=f"Please shorten your first name (at most {MAX_NAME} characters).",
            error_field="first_name",
            email=echo["email"],
            first_name=echo["first_name"],
        )
    if _field(form, "consent") != "yes":
        return _form(
            ctx,
            status_code=422,
            error="Please tick the box to confirm you want the newsletter.",
            error_field="consent",
            email=echo["email"],
            first_name=echo["first_name"],
        )
    choice = _field(form, "address_choice")
    suggestion = suggest_address(address.email)
    if suggestion is not None and choice == "suggested":
        address = normalize_email(suggestion)
    elif suggestion is not None and choice != "as_typed":
        # Almost surely a typo (gmail.con): ask before a confirmation goes nowhere.
        return _form(
            ctx,
            suggestion=suggestion,
            consent_given=True,
            email=echo["email"],
            first_name=echo["first_name"],
        )
    # Counted only once the form is right: a person's typos never lock them out.
    limits, ip = _limits(request), _client_ip(request)
    if not limits.by_ip.allow(ip) or not limits.by_address.allow(address.key):
        return _too_many(ctx)
    result: SignupResult = await run_in_threadpool(
        record_signup,
        ctx.sessions,
        address.email,
        first_name=first_name,
        consent_text=consent_wording(ctx.settings.organization.name),
        consent_ip=ip,
    )
    if result.outcome is Outcome.ACTIVE:
        return ctx.page("signup_already.html", title="You're already subscribed")
    if result.send_confirmation and result.person is not None:
        background.add_task(mail_signup, ctx, confirmation_email, result.person)
    return _sent(ctx)


def _no_store(response: HTMLResponse) -> HTMLResponse:
    response.headers["Cache-Control"] = "no-store"
    return response


def _invalid_confirmation(ctx: WebContext) -> HTMLResponse:
    return _no_store(ctx.page("confirm_invalid.html", status_code=404, title="Link not valid"))


@router.get("/confirm/{token}", response_class=HTMLResponse)
def confirm_page(token: str, ctx: Context) -> HTMLResponse:
    """The page the emailed link opens: one button that POSTs here; changes nothing."""
    try:
        with ctx.sessions() as session:
            person = confirmable(session, ctx.key, token)
            status, email = person.status, person.email
    except TokenError:
        return _invalid_confirmation(ctx)
    if status == SubscriberStatus.ACTIVE:
        return _no_store(ctx.page("confirm.html", title="Subscription confirmed", already=True))
    return _no_store(
        ctx.page(
            "confirm_ask.html",
            title="Confirm your subscription",
            action=f"/confirm/{token}",
            masked_email=mask_email(email),
        )
    )


@router.post("/confirm/{token}", response_class=HTMLResponse)
def confirm_subscription(
    token: str, request: Request, background: BackgroundTasks, ctx: Context
) -> HTMLResponse:
    """The page's button: activates (once) and sends the welcome email."""
    try:
        with ctx.sessions() as session:
            result: ConfirmResult = confirm(
                session,
                ctx.key,
                token,
                consent_text=consent_wording(ctx.settings.organization.name),
                ip=_client_ip(request),
            )
            if result.send_welcome and result.person is not None:
                # The welcome series starts now, in the same transaction as the activation.
                enrol_person(session, result.person.subscriber_id, source="signup")
            session.commit()
    except TokenError:
        return _invalid_confirmation(ctx)
    if result.send_welcome:
        background.add_task(welcome, ctx, result.person)
    return _no_store(
        ctx.page(
            "confirm.html",
            title="Subscription confirmed",
            already=not result.send_welcome,
        )
    )
