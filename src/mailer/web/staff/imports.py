"""Importing a CSV file from the staff pages (issue 14 item 2), owners only.

- ``POST /staff/subscribers/import``: the form on /staff/subscribers ("CSV file", button
  "Import"). The file streams into its own folder (web/staff/uploads.py, at most
  ``[staff] upload_max_mb``; the guard lets this path's body through unbuffered), then a dry
  run starts in the background (mailer.app.imports) and the browser goes to its page.
- ``GET /staff/subscribers/imports/{id}``: a dry run's or an import's page: a progress bar
  while it runs (htmx polls ``.../progress`` every second and swaps it), then the counts. A
  dry run's counts say what would change, with its first rejected rows, and a button
  "Import now" (``POST .../{id}/run``) that imports the same file for real.
- ``GET .../{id}/rejects.csv``: the rejected rows of an import, with line and reason.

A bad file (not UTF-8, binary, no address column, cut short, too big) is told on the page in
words, never a 500; nothing is written for it.
"""

from __future__ import annotations

import threading
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from starlette.requests import ClientDisconnect

from mailer.app.imports import (
    ImportRunner,
    JobView,
    discard_folder,
    new_folder,
    read_job,
    rejects_file,
    safe_file_name,
)
from mailer.store.models import utcnow
from mailer.web.staff.auth import (
    StaffUser,
    current_staff,
    render,
    require_owner,
    web_context,
)
from mailer.web.staff.uploads import UploadRefused, receive_upload

router = APIRouter()
_RUNNER_LOCK = threading.Lock()


def runner(request: Request) -> ImportRunner:
    """The app's import runner (one per server process), made on first use."""
    with _RUNNER_LOCK:
        found: ImportRunner | None = getattr(request.app.state, "import_runner", None)
        if found is None:
            ctx = web_context(request)
            found = ImportRunner(ctx.workspace, ctx.sessions)
            request.app.state.import_runner = found
        return found


@router.post("/subscribers/import")
async def upload(request: Request, user: StaffUser = Depends(require_owner)) -> Response:
    ctx = web_context(request)
    job_id, folder = new_folder(ctx.workspace)
    names: list[str] = []

    def target(name: str) -> Path:
        names.append(safe_file_name(name))
        return folder / names[-1]

    try:
        received = await receive_upload(
            request.stream(),
            request.headers.get("content-type", ""),
            target,
            max_bytes=ctx.settings.staff.upload_max_mb * 1024 * 1024 + 64 * 1024,
        )
        if received.path is None or (received.size == 0 and not received.file_name):
            raise UploadRefused("choose a CSV file first", hint="then press Import")
    except ClientDisconnect:  # the browser went away: nobody to answer
        discard_folder(ctx.workspace, job_id)
        return Response(status_code=400)
    except UploadRefused as err:
        discard_folder(ctx.workspace, job_id)
        message = err.message + (f". What to do: {err.hint}" if err.hint else "")
        return render(
            request,
            "staff/import_refused.html",
            {"reason": message},
            413 if err.too_big else 400,
        )
    tags = [t for t in received.fields.get("tag", "").split(",") if t.strip()]
    runner(request).start_dry_run(job_id, names[-1], tags, user.email)
    return RedirectResponse(f"/staff/subscribers/imports/{job_id}", status_code=303)


def _job_or_404(request: Request, job_id: str) -> JobView | Response:
    job = read_job(web_context(request).sessions, job_id, utcnow())
    if job is None:
        return render(
            request,
            "staff/error.html",
            {"reason": "There is no such import (they are kept for 7 days)."},
            404,
        )
    return job


@router.get("/subscribers/imports/{job_id}")
def job_page(request: Request, job_id: str, user: StaffUser = Depends(current_staff)) -> Response:
    job = _job_or_404(request, job_id)
    if isinstance(job, Response):
        return job
    return render(request, "staff/import_job.html", {"job": job})


@router.get("/subscribers/imports/{job_id}/progress")
def job_progress(
    request: Request, job_id: str, user: StaffUser = Depends(current_staff)
) -> Response:
    job = _job_or_404(request, job_id)
    if isinstance(job, Response):
        return job
    return render(request, "staff/_import_status.html", {"job": job})


@router.post("/subscribers/imports/{job_id}/run")
def run_import(request: Request, job_id: str, user: StaffUser = Depends(require_owner)) -> Response:
    started = runner(request).start_import(job_id, user.email)
    if started is None:
        return render(
            request,
            "staff/error.html",
            {
                "reason": "This file cannot be imported from here (the dry run did not "
                "finish, or the file is gone). Choose the file again on the subscribers page."
            },
            409,
        )
    return RedirectResponse(f"/staff/subscribers/imports/{started}", status_code=303)


@router.get("/subscribers/imports/{job_id}/rejects.csv")
def rejects(request: Request, job_id: str, user: StaffUser = Depends(require_owner)) -> Response:
    ctx = web_context(request)
    path = rejects_file(ctx.workspace, ctx.sessions, job_id)
    if path is None:
        return render(
            request,
            "staff/error.html",
            {"reason": "This import has no rejected rows to download (or they were removed)."},
            404,
        )
    return FileResponse(path, media_type="text/csv; charset=utf-8", filename=path.name)
