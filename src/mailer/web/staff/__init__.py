"""Stand-in for the staffauth branch's web/staff package (replaced at merge).

``router`` (prefix /staff) checks the CSRF token of every POST and includes the sub-routers.
"""

from fastapi import APIRouter, Depends

from mailer.web.staff.auth import check_csrf

router = APIRouter(prefix="/staff", dependencies=[Depends(check_csrf)])
