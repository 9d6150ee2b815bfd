"""The staff pages' campaigns: the list at /staff and a new campaign from articles.

- ``GET /staff`` (campaigns_page; its path "" is /staff itself, as web/staff/__init__.py
  includes this router under the /staff prefix): every campaign with its status, who approved
  it, when it goes out (in the clinic's time zone) and its figures once sent;
  app/campaign_list.py reads them. On a phone the table becomes one card per campaign (no
  sideways scroll at 375 px).
- ``GET/POST /staff/campaigns/new``: pasted text, addresses and files to a draft through
  app/drafting.py, exactly as `mailer draft` drafts; then the campaign page.
(A sent campaign's results, ``GET /staff/campaigns/{slug}/results``, are web/staff/results.py.)

The campaign page itself (edit, test, approve) is web/staff/campaign_page.py, its preview and
check web/staff/campaign_preview.py; this router includes theirs. Signing in, roles and the
CSRF check of every POST are the staff layer's (web/staff/auth.py); each route here only names
who may call it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from mailer.app.campaign_list import list_campaigns
from mailer.app.drafting import draft_from_articles, load_sources, load_upload
from mailer.articles import Article
from mailer.articles.source import MAX_BYTES as MAX_ARTICLE_BYTES
from mailer.errors import ArticleError, MailerError
from mailer.web.context import WebContext, web_context
from mailer.web.staff import campaign_page, campaign_preview
from mailer.web.staff.auth import StaffUser, current_staff, render
from mailer.web.staff.display import clinic_zone, figures, formatter
from mailer.web.staff.forms import MAX_FILES, Form, Upload, read_form

router = APIRouter()

EDITOR_JS = Path(__file__).with_name("campaign_editor.js")
PASTED = "the pasted article text"
UPLOAD_SUFFIXES = (".txt", ".text", ".md", ".markdown", ".html", ".htm")


@router.get("", response_class=HTMLResponse)
def campaigns_page(
    request: Request,
    user: StaffUser = Depends(current_staff),
    ctx: WebContext = Depends(web_context),
) -> HTMLResponse:
    zone = clinic_zone(ctx.settings)
    summaries = list_campaigns(ctx.workspace, ctx.sessions, datetime.now(UTC))
    return render(
        request,
        "staff/campaigns.html",
        {
            "campaigns": summaries,
            "when": formatter(zone),
            "figures": figures,
            "timezone": zone.key,
        },
    )


@router.get("/campaign-editor.js")
def editor_script() -> Response:
    return Response(
        EDITOR_JS.read_bytes(),
        media_type="text/javascript; charset=utf-8",
        headers={"Cache-Control": "no-cache"},
    )


def _new_page(
    request: Request, status_code: int = 200, *, error: str = "", hint: str = "", form: Form
) -> HTMLResponse:
    return render(
        request,
        "staff/campaign_new.html",
        {
            "error": error,
            "hint": hint,
            "article_text": form.first("article_text"),
            "article_url": form.first("article_url"),
            "max_files": MAX_FILES,
            "max_mb": MAX_ARTICLE_BYTES // 1024 // 1024,
        },
        status_code,
    )


@router.get("/campaigns/new", response_class=HTMLResponse)
def new_campaign_page(request: Request, user: StaffUser = Depends(current_staff)) -> HTMLResponse:
    return _new_page(request, form=Form())


@router.post("/campaigns/new", response_model=None)
async def create_draft(
    request: Request,
    user: StaffUser = Depends(current_staff),
    ctx: WebContext = Depends(web_context),
) -> Response:
    try:
        form = await read_form(request)
    except MailerError as err:
        return _new_page(request, 413, error=err.message, hint=err.hint or "", form=Form())
    try:
        # Fetching an address may take up to the importer's timeout: off the event loop.
        slug = await run_in_threadpool(_draft, ctx, form)
    except MailerError as err:
        return _new_page(request, 422, error=err.message, hint=err.hint or "", form=form)
    return RedirectResponse(f"/staff/campaigns/{slug}?done=created", status_code=303)


def _draft(ctx: WebContext, form: Form) -> str:
    """The articles of the form, in order (pasted text, addresses, files), drafted; the slug."""
    workspace = ctx.workspace
    text = form.first("article_text").strip()
    addresses = form.first("article_url").split()
    for address in addresses:
        if not address.lower().startswith(("http://", "https://")):
            raise ArticleError(
                f"{address[:200]!r} is not a web address",
                hint="give the article's full address, starting with https://",
            )
    uploads = form.files("article_file")
    if len(uploads) > MAX_FILES:
        raise ArticleError(
            f"{len(uploads)} files: at most {MAX_FILES} articles make one digest",
            hint="choose fewer files, or make two campaigns",
        )
    articles: list[Article] = []
    if text:
        own_address = addresses.pop(0) if addresses else ""
        articles += load_upload(workspace, text.encode("utf-8"), PASTED, own_address)
    if addresses:
        articles += load_sources(workspace, addresses)
    for upload in uploads:
        articles += load_upload(workspace, upload.data, _upload_name(upload))
    if not articles:
        raise ArticleError(
            "there is no article to draft from",
            hint='paste the article into "Article text", give its "Article address", or '
            'choose an "Article file"',
        )
    campaign = draft_from_articles(workspace, articles)
    return campaign.slug


def _upload_name(upload: Upload) -> str:
    """The file's own name (no folders), checked for a kind of article the importer reads."""
    name = Path(upload.filename.replace("\\", "/")).name[:200] or "the uploaded file"
    if not name.lower().endswith(UPLOAD_SUFFIXES):
        raise ArticleError(
            f"{name}: not an article file the importer reads",
            hint="save the article as a page export (.txt), Markdown (.md) or a web page "
            "(.html), then choose that file",
        )
    return name


# After /campaigns/new: the campaign page's /campaigns/{slug} would otherwise take "new".
router.include_router(campaign_page.router)
router.include_router(campaign_preview.router)
