"""The campaign list at /staff and a new campaign from articles at /staff/campaigns/new (issue 13
items 4 and 5), over HTTP against the whole app."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from mailer.app.drafting import draft_from_articles, load_sources
from mailer.articles.source import MAX_BYTES
from mailer.campaigns.campaign import load_campaign
from mailer.workspace import Workspace
from tests.staff.conftest import ARTICLES, OWNER, hidden_fields, post_form

HEADACHES_URL = "https://www.summitspine.example/blog/headaches"


def _new(client: httpx.Client, files: Any = None, **fields: str) -> httpx.Response:
    shown = client.get("/staff/campaigns/new")
    assert shown.status_code == 200
    return client.post(
        "/staff/campaigns/new", data={**hidden_fields(shown.text), **fields}, files=files
    )


def _slug(response: httpx.Response) -> str:
    location = response.headers["location"]
    assert location.startswith("/staff/campaigns/") and location.endswith("?done=created")
    return location.removeprefix("/staff/campaigns/").removesuffix("?done=created")


def test_pasted_article_is_drafted_as_mailer_draft_drafts_it(
    owner: httpx.Client, staff_workspace: Workspace
) -> None:
    text = (ARTICLES / "headaches.txt").read_text(encoding="utf-8")
    response = _new(owner, article_text=text, article_url=HEADACHES_URL)
    assert response.status_code == 303
    slug = _slug(response)
    from_page = load_campaign(staff_workspace.campaigns_dir / f"{slug}.md")

    # `mailer draft articles/headaches.txt --url ...`, through the same app/drafting.py path
    drafted = draft_from_articles(
        staff_workspace,
        load_sources(staff_workspace, [ARTICLES / "headaches.txt"], [HEADACHES_URL]),
        day=date.today(),
    )
    assert drafted.slug == f"{slug}-2"  # the first one was not overwritten
    same = load_campaign(staff_workspace.campaigns_dir / f"{drafted.slug}.md")
    assert (from_page.subject, from_page.preheader, from_page.body) == (
        same.subject,
        same.preheader,
        same.body,
    )
    assert from_page.articles[0].url == HEADACHES_URL
    assert '[[button "Read the full article" ' + HEADACHES_URL in from_page.body  # a teaser
    page = owner.get(f"/staff/campaigns/{slug}?done=created")
    assert page.status_code == 200 and "Drafted from the article" in page.text


def test_several_files_make_a_digest_in_the_order_given(
    owner: httpx.Client, staff_workspace: Workspace
) -> None:
    files = [
        ("article_file", ("desk-posture.txt", (ARTICLES / "desk-posture.txt").read_bytes())),
        ("article_file", ("sleep-position.md", (ARTICLES / "sleep-position.md").read_bytes())),
    ]
    response = _new(owner, files=files)
    assert response.status_code == 303, response.text
    campaign = load_campaign(staff_workspace.campaigns_dir / f"{_slug(response)}.md")
    titles = [a.title for a in campaign.articles]
    assert len(titles) == 2 and titles[1] == "Sleep Position and Neck Pain"
    assert "More from the blog" in campaign.body  # the digest shape of campaigns/draft.py


class _Blog(BaseHTTPRequestHandler):
    """A clinic blog on loopback: one article page, and one page over the importer's cap."""

    def do_GET(self) -> None:
        if self.path == "/blog/balance":
            body = (
                b"<html><head><title>Balance and the upper neck</title></head><body><article>"
                b"<h1>Balance and the upper neck</h1><p>"
                + b"Dizziness often starts where the skull meets the neck. " * 20
                + b"</p><p>"
                + b"Small shifts there change what the balance system is told. " * 20
                + b"</p></article></body></html>"
            )
        elif self.path == "/blog/huge":
            body = b"<html><body><p>" + b"x" * (MAX_BYTES + 10) + b"</p></body></html>"
        else:
            self.send_response(404)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def blog() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Blog)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_an_address_is_fetched_and_its_article_drafted(
    owner: httpx.Client, staff_workspace: Workspace, blog: str
) -> None:
    response = _new(owner, article_url=f"{blog}/blog/balance")
    assert response.status_code == 303, response.text
    campaign = load_campaign(staff_workspace.campaigns_dir / f"{_slug(response)}.md")
    assert campaign.subject == "Balance and the upper neck"
    assert campaign.articles[0].url == f"{blog}/blog/balance"


@pytest.mark.parametrize(
    ("fields", "files", "says"),
    [
        ({}, None, "there is no article to draft from"),
        ({"article_url": "www.example.com/blog/x"}, None, "is not a web address"),
        ({}, [("article_file", ("notes.pdf", b"%PDF-1.7 ..."))], "not an article file"),
        ({}, [("article_file", ("empty.txt", b"  \n"))], "empty, there is no article in it"),
        ({"article_url": "{blog}/blog/huge"}, None, "too large"),
        ({"article_url": "{blog}/blog/missing"}, None, "answered 404"),
    ],
)
def test_unusable_input_says_what_to_do_and_writes_nothing(
    owner: httpx.Client,
    staff_workspace: Workspace,
    blog: str,
    fields: dict[str, str],
    files: object,
    says: str,
) -> None:
    fields = {k: v.replace("{blog}", blog) for k, v in fields.items()}
    response = _new(owner, files=files, article_text="", **fields)
    assert response.status_code == 422
    assert "No draft was created." in response.text and says in response.text
    assert list(staff_workspace.campaigns_dir.glob("*.md")) == []


def test_the_list_shows_subject_status_and_who_approved(
    owner: httpx.Client, staff_workspace: Workspace
) -> None:
    text = (ARTICLES / "headaches.txt").read_text(encoding="utf-8")
    first = _slug(_new(owner, article_text=text, article_url=HEADACHES_URL))
    second = _slug(
        _new(owner, article_text=(ARTICLES / "sleep-position.md").read_text(encoding="utf-8"))
    )
    page = f"/staff/campaigns/{first}"
    approved = post_form(owner, page, f"{page}/approve")
    assert approved.status_code == 303, approved.text

    listed = owner.get("/staff")
    assert listed.status_code == 200
    html = listed.text
    rows = {slug: html[html.index(f'href="/staff/campaigns/{slug}"') :] for slug in (first, second)}
    assert "Why Headaches Can Start in the Upper Neck" in rows[first][:300]
    assert '<span class="status status-approved">approved</span>' in rows[first][:700]
    assert OWNER in rows[first][:900]
    assert "Sleep Position and Neck Pain" in rows[second][:300]
    assert '<span class="status status-draft">draft</span>' in rows[second][:700]
    assert "New campaign" in html


def test_an_empty_list_points_to_a_new_campaign(owner: httpx.Client) -> None:
    listed = owner.get("/staff")
    assert listed.status_code == 200
    assert "No campaigns yet" in listed.text and 'href="/staff/campaigns/new"' in listed.text
