"""``GET /staff/accounts``: who can sign in (owners only). Adding, removing and resetting
accounts is done with `mailer staff` on the server, which the page says how."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from mailer.staff.accounts import list_accounts
from mailer.store.db import transaction
from mailer.web.staff.auth import StaffUser, now, render, require_owner, web_context

router = APIRouter()


@router.get("/accounts")
def accounts_page(request: Request, user: StaffUser = Depends(require_owner)) -> Response:
    ctx = web_context(request)
    with transaction(ctx.sessions) as db:
        accounts = list_accounts(db, now=now(request), idle=ctx.settings.staff.session_idle)
    return render(request, "staff/accounts.html", {"accounts": accounts})
