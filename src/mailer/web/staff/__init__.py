"""The staff web app, served by `mailer serve` under /staff (DESIGN.md, "Staff web app").

``router`` holds every staff route (each module below adds its own ``router``); ``install``
mounts it with the static files and the answer of a refused dependency. web/app.py also adds
mailer.web.staff.guard.StaffGuard, which checks CSRF and adds the security headers for every
request under /staff before any route runs.

Modules: auth (who is signed in, render, the interface every page builds on), guard, look
(static files, the clinic's colour), login (sign in and out, set a password), team (the staff
list), campaigns (the campaign list), subscribers (search, a person's page, owners' changes,
export), uploads and imports (a CSV import in the background), results (a campaign's results,
the last issues side by side).
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles

from mailer.web.staff import campaigns, imports, login, results, subscribers, team
from mailer.web.staff.auth import StaffRefusal, refusal_handler
from mailer.web.staff.guard import StaffGuard
from mailer.web.staff.look import STATIC_DIR, STATIC_PATH

__all__ = ["StaffGuard", "install", "router"]

PREFIX = "/staff"
router = APIRouter()  # each module's routes under PREFIX ("" is /staff itself)
router.include_router(login.router, prefix=PREFIX)
router.include_router(team.router, prefix=PREFIX)
router.include_router(campaigns.router, prefix=PREFIX)
router.include_router(subscribers.router, prefix=PREFIX)
router.include_router(imports.router, prefix=PREFIX)
router.include_router(results.router, prefix=PREFIX)


def install(app: FastAPI) -> None:
    """The staff pages in ``app``: static files first (no route may shadow them), then the
    routes; a StaffRefusal raised by a dependency becomes its page or redirect."""
    app.mount(STATIC_PATH, StaticFiles(directory=STATIC_DIR), name="staff-static")
    app.include_router(router)
    app.add_exception_handler(StaffRefusal, refusal_handler)
