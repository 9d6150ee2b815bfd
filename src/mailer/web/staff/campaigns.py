"""``GET /staff``: the campaign list. A placeholder until the campaign pages land (issue 13
item 4 replaces ``campaigns_page`` and its template)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from mailer.web.staff.auth import StaffUser, current_staff, render

router = APIRouter()


@router.get("")
def campaigns_page(request: Request, user: StaffUser = Depends(current_staff)) -> Response:
    return render(request, "staff/campaigns.html")
