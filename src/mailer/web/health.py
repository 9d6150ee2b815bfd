"""`GET /readyz`: the database answers and its schema is current (see mailer.readiness).

200 with a small JSON document when ready, 503 with the reason otherwise; never cached. The
liveness probe, `GET /healthz`, answers "ok" without touching the database.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from sqlalchemy import Engine

from mailer.readiness import check_readiness
from mailer.web.context import WebContext, web_context

router = APIRouter()


@router.get("/readyz")
def readyz(ctx: WebContext = Depends(web_context)) -> JSONResponse:
    engine = ctx.sessions.kw["bind"]
    assert isinstance(engine, Engine)
    readiness = check_readiness(engine, ctx.sessions)
    return JSONResponse(
        readiness.as_dict(),
        status_code=200 if readiness.ready else 503,
        headers={"Cache-Control": "no-store"},
    )
