"""The feed's conditional GET against a blog on loopback: validators, 304, every failure named."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mailer.errors import FeedError
from mailer.feed.fetch import discover_feed, fetch_feed, shown_url
from tests.feed_server import POSTS, FeedSite, rss, serve_feed


@pytest.fixture
def site() -> Iterator[FeedSite]:
    with serve_feed() as served:
        served.publish(rss(POSTS[:2]))
        yield served


def test_first_fetch_returns_the_document_and_its_validators(site: FeedSite) -> None:
    response = fetch_feed(site.url)
    assert not response.not_modified
    assert response.data == site.body
    assert response.etag == site.etag
    assert response.last_modified == site.last_modified
    headers = site.requests[0]
    assert "if-none-match" not in headers and "if-modified-since" not in headers
    assert headers["user-agent"].startswith("mailer/")


def test_validators_are_sent_back_and_304_means_not_modified(site: FeedSite) -> None:
    first = fetch_feed(site.url)
    again = fetch_feed(site.url, etag=first.etag, last_modified=first.last_modified)
    assert again.not_modified and again.data == b""
    assert site.requests[1]["if-none-match"] == first.etag
    assert site.requests[1]["if-modified-since"] == first.last_modified
    site.publish(rss(POSTS[:3]))
    changed = fetch_feed(site.url, etag=first.etag, last_modified=first.last_modified)
    assert not changed.not_modified and b"Desk Habits" in changed.data
    assert changed.etag != first.etag


def test_last_modified_alone_is_enough_for_a_304(site: FeedSite) -> None:
    site.send_etag = False
    first = fetch_feed(site.url)
    assert first.etag == "" and first.last_modified
    assert fetch_feed(site.url, last_modified=first.last_modified).not_modified
    assert "if-none-match" not in site.requests[1]


@pytest.mark.parametrize(
    ("status", "advice"),
    [(500, "the next poll tries again"), (404, "feed.url"), (403, "public")],
)
def test_http_errors_name_the_address_and_what_to_do(
    site: FeedSite, status: int, advice: str
) -> None:
    site.status = status
    with pytest.raises(FeedError) as caught:
        fetch_feed(site.url)
    assert site.url in caught.value.message
    assert str(status) in caught.value.message
    assert advice in (caught.value.hint or "")


def test_a_slow_blog_times_out_with_a_clear_error(site: FeedSite) -> None:
    site.delay = 1.5
    with pytest.raises(FeedError, match=r"no answer within 0\.3 s") as caught:
        fetch_feed(site.url, timeout=0.3)
    assert site.url in caught.value.message
    assert "next poll" in (caught.value.hint or "")


def test_nobody_listening_is_a_network_error(site: FeedSite) -> None:
    closed = "http://127.0.0.1:9/feed"  # discard port: nothing listens on loopback
    with pytest.raises(FeedError, match="could not be fetched") as caught:
        fetch_feed(closed, timeout=2)
    assert closed in caught.value.message


def test_a_web_page_is_refused_and_its_own_feed_suggested(site: FeedSite) -> None:
    with pytest.raises(FeedError, match="a web page, not an RSS or Atom feed") as caught:
        fetch_feed(f"{site.base}/blog")
    assert f"{site.base}/feed" in (caught.value.hint or "")


def test_redirects_are_followed_but_not_forever(site: FeedSite) -> None:
    moved = fetch_feed(f"{site.base}/moved")
    assert moved.final_url == site.url and moved.data == site.body
    with pytest.raises(FeedError, match="more than 5 redirects"):
        fetch_feed(f"{site.base}/loop")


def test_an_oversized_answer_is_refused(site: FeedSite) -> None:
    with pytest.raises(FeedError, match="larger than"):
        fetch_feed(site.url, max_bytes=100)


def test_an_empty_answer_is_refused(site: FeedSite) -> None:
    site.publish(b"  \n")
    with pytest.raises(FeedError, match="empty"):
        fetch_feed(site.url)


def test_credentials_in_the_address_never_appear_in_messages(site: FeedSite) -> None:
    secret_url = site.url.replace("http://", "http://staff:hunter2@")
    assert shown_url(secret_url) == site.url
    site.status = 500
    with pytest.raises(FeedError) as caught:
        fetch_feed(secret_url)
    assert "hunter2" not in str(caught.value)
    assert site.url in caught.value.message


def test_discover_feed_reads_the_alternate_link() -> None:
    page = b'<html><head><link href="rss.xml" type="application/rss+xml" rel="alternate">'
    assert discover_feed(page, "https://www.summitspine.example/blog/") == (
        "https://www.summitspine.example/blog/rss.xml"
    )
    assert discover_feed(b"<html><head></head></html>", "https://x.example/") == ""
