"""Stand-in for the staffauth branch's web/staff package (replaced at merge).

``router`` (prefix /staff) checks the CSRF token of every POST and includes the sub-routers;
``GET /staff`` itself is campaigns.campaigns_page, added here (an included router cannot have
an empty path).
"""

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse

from mailer.web.staff import campaigns
from mailer.web.staff.auth import check_csrf

router = APIRouter(prefix="/staff", dependencies=[Depends(check_csrf)])
router.add_api_route("", campaigns.campaigns_page, methods=["GET"], response_class=HTMLResponse)
router.include_router(campaigns.router)
