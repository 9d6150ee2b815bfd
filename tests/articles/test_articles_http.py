"""Articles and feeds by address, served from a loopback http.server (nothing leaves 127.0.0.1)."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from mailer.articles import load_article, load_articles, load_feed
from mailer.articles.source import MAX_BYTES
from mailer.errors import ArticleError

FIXTURES = Path(__file__).parents[1] / "fixtures" / "articles"

# path -> (status, content type, body, send Content-Length?)
Route = tuple[int, str, bytes, bool]


def _routes() -> dict[str, Route]:
    big = b"A" * (MAX_BYTES + 1024)
    return {
        "/rss.xml": (200, "application/rss+xml", (FIXTURES / "summit-rss.xml").read_bytes(), True),
        "/atom": (
            200,
            "text/xml; charset=utf-8",
            (FIXTURES / "summit-atom.xml").read_bytes(),
            True,
        ),
        "/post.html": (
            200,
            "text/html; charset=utf-8",
            (FIXTURES / "hostile.html").read_bytes(),
            True,
        ),
        "/export": (
            200,
            "text/plain; charset=utf-8",
            (FIXTURES / "headaches-upper-neck.txt").read_bytes(),
            True,
        ),
        "/missing": (404, "text/html", b"<h1>Not found</h1>", True),
        "/big-declared": (200, "text/html", big, True),
        "/big-streamed": (200, "text/html", big, False),
    }


class _Handler(BaseHTTPRequestHandler):
    routes: ClassVar[dict[str, Route]] = {}

    def do_GET(self) -> None:
        if self.path == "/moved":
            self.send_response(301)
            self.send_header("Location", "/post.html")
            self.end_headers()
            return
        status, content_type, body, with_length = self.routes.get(
            self.path, (404, "text/plain", b"no", True)
        )
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if with_length:
            self.send_header("Content-Length", str(len(body)))
        else:
            self.send_header("Connection", "close")
        self.end_headers()
        # The client may stop reading: that is the point of the size cap.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    _Handler.routes = _routes()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_rss_feed_by_address(server: str) -> None:
    entries = load_feed(f"{server}/rss.xml")
    assert [a.entry_id for a in entries] == [
        "summit-post-0003",
        "summit-post-0002",
        "summit-post-0001",
    ]
    assert entries[0].date == date(2025, 2, 18)
    assert "rss-script-marker" not in repr(entries)


def test_atom_served_as_text_xml_is_sniffed_as_a_feed(server: str) -> None:
    entries = load_articles(f"{server}/atom")
    assert [a.title for a in entries] == [
        "Sitting & Standing at Work",
        "Vertigo and the Upper Neck",
    ]


def test_html_page_by_address_keeps_its_canonical_url(server: str) -> None:
    article = load_article(f"{server}/post.html")
    assert article.title == "Posture at the Desk"
    assert article.url == "https://www.summitspine.example/post/posture-at-the-desk"
    assert "onclickMarker" not in repr(article)


def test_redirects_are_followed(server: str) -> None:
    assert load_article(f"{server}/moved").title == "Posture at the Desk"


def test_plain_text_by_address_is_a_page_export_and_gets_the_address_as_url(server: str) -> None:
    article = load_article(f"{server}/export")
    assert article.title == "Why Headaches Can Start in the Upper Neck"
    assert article.url == f"{server}/export"
    assert "Free Consultation" not in repr(article)


def test_http_errors_name_the_address(server: str) -> None:
    with pytest.raises(ArticleError, match="404") as caught:
        load_article(f"{server}/missing")
    assert f"{server}/missing" in caught.value.message
    assert caught.value.hint


@pytest.mark.parametrize("path", ["/big-declared", "/big-streamed"])
def test_oversized_responses_are_refused(server: str, path: str) -> None:
    with pytest.raises(ArticleError, match="too large"):
        load_article(f"{server}{path}")


def test_an_unreachable_address_is_a_clear_error() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ArticleError, match="could not be fetched") as caught:
        load_article(f"http://127.0.0.1:{port}/post")
    assert "check the address" in (caught.value.hint or "")
