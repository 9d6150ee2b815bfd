"""The subscriber list on the staff pages (issue 14 item 1): search, filters, pages, a
person's page, and what owners change there.

- ``GET /staff/subscribers``: the box labelled "Search" (the start of an address, a first or
  last name, or a tag; mailer.subscribers.search), status and tag filters, pages. htmx swaps
  the results as one types; the same URL works as a plain form without script.
- ``GET /staff/subscribers/{id}``: status with its history (who or what changed it, when),
  tags, the campaigns they were sent and their clicks (mailer.subscribers.profile).
- Owners only (editors get a 403 page and nothing changes): ``POST /staff/subscribers/add``,
  ``POST .../{id}/tags`` and ``.../{id}/tags/remove``, ``POST .../{id}/unsubscribe``,
  ``GET``/``POST .../{id}/erase`` (a confirmation page first; erasing keeps only the address's
  hash, as `mailer subscribers delete`), ``GET /staff/subscribers/export.csv`` (the people of
  the current search and filters, formula-safe, as `mailer subscribers export`).

Every status change goes through subscribers.status with By.STAFF; the history row names the
staff member (source ``staff:<their address>``). Import: web/staff/imports.py.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse

from mailer.app.sequences import enrol_person
from mailer.errors import InputError
from mailer.store.db import transaction
from mailer.store.models import Subscriber, SubscriberStatus
from mailer.subscribers.csv_export import iter_csv
from mailer.subscribers.profile import add_tag, profile, remove_tag
from mailer.subscribers.search import MAX_PAGES, search, where_clause
from mailer.subscribers.service import add_subscriber, delete_subscriber, unsubscribe
from mailer.web.staff.auth import (
    StaffUser,
    current_staff,
    form_fields,
    render,
    require_owner,
    web_context,
)

router = APIRouter()
PAGE_SIZE = 50
DONE = {
    "added": "Added to the list.",
    "tag-added": "Tag added.",
    "tag-there": "They had that tag already; nothing changed.",
    "tag-removed": "Tag removed.",
    "tag-absent": "They did not have that tag; nothing changed.",
    "unsubscribed": "Unsubscribed: they get no more newsletters. The history says you did it.",
    "was-unsubscribed": "They were unsubscribed already; nothing changed.",
    "erased": "Erased. Only a hash of the address is kept, so it is never mailed or "
    "imported again.",
}


def _filters(request: Request) -> dict[str, Any]:
    params = request.query_params
    status = params.get("status", "")
    page = params.get("page", "1")
    return {
        "q": " ".join(params.get("q", "").split())[:320],
        "status": status if status in SubscriberStatus.ALL else "",
        "tag": " ".join(params.get("tag", "").split())[:100],
        "page": min(int(page), MAX_PAGES) if page.isdigit() and int(page) >= 1 else 1,
    }


def _link(filters: dict[str, Any], **changes: Any) -> str:
    values = {**filters, **changes}
    query = {k: v for k, v in values.items() if v and not (k == "page" and v == 1)}
    return "/staff/subscribers" + (f"?{urlencode(query)}" if query else "")


@router.get("/subscribers")
def subscribers_page(request: Request, user: StaffUser = Depends(current_staff)) -> Response:
    return _list_page(request, user)


def _list_page(
    request: Request,
    user: StaffUser,
    *,
    add_error: str = "",
    add_values: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    filters = _filters(request)
    found = search(
        web_context(request).sessions,
        filters["q"],
        status=filters["status"],
        tag=filters["tag"],
        page=filters["page"],
        page_size=PAGE_SIZE,
    )
    export_query = {k: filters[k] for k in ("q", "status", "tag") if filters[k]}
    context = {
        "filters": filters,
        "found": found,
        "statuses": SubscriberStatus.ALL,
        "previous_url": _link(filters, page=found.page - 1) if found.page > 1 else "",
        "next_url": _link(filters, page=found.page + 1) if found.has_more else "",
        "export_url": "/staff/subscribers/export.csv"
        + (f"?{urlencode(export_query)}" if export_query else ""),
        "filtered": bool(export_query),
        "notice": DONE.get(request.query_params.get("done", ""), ""),
        "add_error": add_error,
        "add": add_values or {},
        "upload_max_mb": web_context(request).settings.staff.upload_max_mb,
    }
    return render(request, "staff/subscribers.html", context, status_code)


@router.get("/subscribers/export.csv")
def export_csv(request: Request, user: StaffUser = Depends(require_owner)) -> Response:
    filters = _filters(request)
    where = where_clause(filters["q"], status=filters["status"], tag=filters["tag"])
    filtered = any(filters[k] for k in ("q", "status", "tag"))
    name = "subscribers-filtered.csv" if filtered else "subscribers.csv"
    return StreamingResponse(
        iter_csv(web_context(request).sessions, where),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.post("/subscribers/add")
def add_person(
    request: Request,
    user: StaffUser = Depends(require_owner),
    form: dict[str, str] = Depends(form_fields),
) -> Response:
    values = {k: form.get(k, "").strip() for k in ("email", "first_name", "last_name", "tags")}
    consent = " ".join(form.get("consent", "").split())
    values["consent"] = consent
    try:
        if not consent:
            raise InputError(
                "say how the person agreed to get the newsletter",
                hint="e.g. asked at the front desk on 2026-12-01",
            )
        with transaction(web_context(request).sessions) as session:
            person = add_subscriber(
                session,
                values["email"],
                first_name=values["first_name"],
                last_name=values["last_name"],
                tags=[t for t in values["tags"].split(",") if t.strip()],
                consent_source=_who(user),
                consent_text=consent,
                reason=f"added by {user.email} on the staff pages",
            )
            person_id = person.id
            enrol_person(session, person_id, source="staff-add")
    except InputError as err:
        message = err.message + (f". What to do: {err.hint}" if err.hint else "")
        return _list_page(request, user, add_error=message, add_values=values, status_code=400)
    return RedirectResponse(f"/staff/subscribers/{person_id}?done=added", status_code=303)


def _who(user: StaffUser) -> str:
    return f"staff:{user.email}"[:100]


@router.get("/subscribers/{subscriber_id:int}")
def person_page(
    request: Request, subscriber_id: int, user: StaffUser = Depends(current_staff)
) -> Response:
    found = profile(web_context(request).sessions, subscriber_id)
    if found is None:
        return _missing(request)
    notice = DONE.get(request.query_params.get("done", ""), "")
    error = request.query_params.get("error", "")[:300] if notice == "" else ""
    return render(request, "staff/person.html", {"person": found, "notice": notice, "error": error})


def _missing(request: Request) -> Response:
    return render(
        request,
        "staff/error.html",
        {"reason": "There is nobody with this number on the list (erased, or a wrong link)."},
        404,
    )


def _back(subscriber_id: int, done: str = "", error: str = "") -> Response:
    query = urlencode({"done": done} if done else {"error": error})
    return RedirectResponse(f"/staff/subscribers/{subscriber_id}?{query}", status_code=303)


@router.post("/subscribers/{subscriber_id:int}/tags")
def add_tag_route(
    request: Request,
    subscriber_id: int,
    user: StaffUser = Depends(require_owner),
    form: dict[str, str] = Depends(form_fields),
) -> Response:
    try:
        added = add_tag(web_context(request).sessions, subscriber_id, form.get("tag", ""))
    except InputError as err:
        return _back(subscriber_id, error=err.message)
    return _back(subscriber_id, "tag-added" if added else "tag-there")


@router.post("/subscribers/{subscriber_id:int}/tags/remove")
def remove_tag_route(
    request: Request,
    subscriber_id: int,
    user: StaffUser = Depends(require_owner),
    form: dict[str, str] = Depends(form_fields),
) -> Response:
    try:
        removed = remove_tag(web_context(request).sessions, subscriber_id, form.get("tag", ""))
    except InputError as err:
        return _back(subscriber_id, error=err.message)
    return _back(subscriber_id, "tag-removed" if removed else "tag-absent")


@router.post("/subscribers/{subscriber_id:int}/unsubscribe")
def unsubscribe_route(
    request: Request, subscriber_id: int, user: StaffUser = Depends(require_owner)
) -> Response:
    with transaction(web_context(request).sessions) as session:
        person = session.get(Subscriber, subscriber_id)
        if person is None:
            return _missing(request)
        _, changed = unsubscribe(
            session,
            person.email,
            reason=f"unsubscribed by {user.email} on the staff pages",
            source=_who(user),
        )
    return _back(subscriber_id, "unsubscribed" if changed else "was-unsubscribed")


@router.get("/subscribers/{subscriber_id:int}/erase")
def erase_page(
    request: Request, subscriber_id: int, user: StaffUser = Depends(require_owner)
) -> Response:
    found = profile(web_context(request).sessions, subscriber_id)
    if found is None:
        return _missing(request)
    return render(request, "staff/person_erase.html", {"person": found})


@router.post("/subscribers/{subscriber_id:int}/erase")
def erase_route(
    request: Request,
    subscriber_id: int,
    user: StaffUser = Depends(require_owner),
    form: dict[str, str] = Depends(form_fields),
) -> Response:
    with transaction(web_context(request).sessions) as session:
        person = session.get(Subscriber, subscriber_id)
        if person is None:
            return _missing(request)
        if form.get("confirm") != "erase":
            return RedirectResponse(f"/staff/subscribers/{subscriber_id}/erase", status_code=303)
        delete_subscriber(session, person.email)
    return RedirectResponse("/staff/subscribers?done=erased", status_code=303)
