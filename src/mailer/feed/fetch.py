"""A conditional GET of the blog's feed, and every way it can fail as one FeedError.

The validators of the last good answer (ETag, Last-Modified) go back as If-None-Match and
If-Modified-Since, so an unchanged feed costs the blog a 304 and us no parsing. Redirects are
followed (at most MAX_REDIRECTS), the answer is read with a timeout and a size cap, and a web page
served where a feed was expected is refused with the page's own feed address as a hint when it
names one. Errors name the address, never its user name or password.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import unescape
from urllib.parse import urljoin

import httpx

from mailer import __version__
from mailer.articles.source import sniff
from mailer.errors import FeedError
from mailer.feed.address import shown_url

FETCH_TIMEOUT = 20.0
MAX_FEED_BYTES = 10 * 1024 * 1024
MAX_REDIRECTS = 5
USER_AGENT = f"mailer/{__version__} (newsletter feed poller)"
NEXT_POLL = "the next poll tries again"

_LINK_TAG = re.compile(r"<link\b[^>]*>", re.IGNORECASE)
_ATTRIBUTE = re.compile(r"""([a-zA-Z-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""")
_FEED_TYPES = ("application/rss+xml", "application/atom+xml")


@dataclass(frozen=True)
class FeedResponse:
    """What the blog answered: a new document with its validators, or "not modified"."""

    url: str
    not_modified: bool
    data: bytes = b""
    etag: str = ""
    last_modified: str = ""
    final_url: str = ""


def fetch_feed(
    url: str,
    *,
    etag: str = "",
    last_modified: str = "",
    timeout: float = FETCH_TIMEOUT,
    max_bytes: int = MAX_FEED_BYTES,
) -> FeedResponse:
    """GET the feed, conditionally when validators are given. Raises FeedError on any failure."""
    name = shown_url(url)
    headers = {
        "User-Agent": USER_AGENT,
        "Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, "
        "text/xml;q=0.9, */*;q=0.1",
    }
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    try:
        with (
            httpx.Client(
                timeout=timeout,
                follow_redirects=True,
                max_redirects=MAX_REDIRECTS,
                headers=headers,
            ) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code == 304:
                return FeedResponse(url=url, not_modified=True, final_url=str(response.url))
            if response.status_code >= 400:
                raise _status_error(name, response.status_code, response.reason_phrase)
            if response.status_code != 200:
                raise FeedError(
                    f"feed {name}: unexpected answer {response.status_code} "
                    f"{response.reason_phrase}",
                    hint=f"open the address in a browser to check it; {NEXT_POLL}",
                )
            declared = response.headers.get("content-length", "")
            if declared.isdigit():
                _check_size(name, int(declared), max_bytes)
            chunks: list[bytes] = []
            total = 0
            for chunk in response.iter_bytes():
                total += len(chunk)
                _check_size(name, total, max_bytes)
                chunks.append(chunk)
            data = b"".join(chunks)
            content_type = response.headers.get("content-type", "")
            final_url = str(response.url)
            new_etag = response.headers.get("etag", "")
            new_last_modified = response.headers.get("last-modified", "")
    except httpx.TooManyRedirects as err:
        raise FeedError(
            f"feed {name}: more than {MAX_REDIRECTS} redirects",
            hint="open the address in a browser and put the address it ends at in feed.url "
            "in mailer.toml",
        ) from err
    except httpx.TimeoutException as err:
        raise FeedError(
            f"feed {name}: no answer within {timeout:g} s",
            hint=f"the blog may be slow or down; {NEXT_POLL}",
        ) from err
    except httpx.HTTPError as err:
        raise FeedError(
            f"feed {name}: could not be fetched ({err.__class__.__name__}: {err})",
            hint=f"check feed.url in mailer.toml and this computer's connection; {NEXT_POLL}",
        ) from err
    _check_is_feed(name, final_url, data, content_type)
    return FeedResponse(
        url=url,
        not_modified=False,
        data=data,
        etag=new_etag,
        last_modified=new_last_modified,
        final_url=final_url,
    )


def _status_error(name: str, status: int, reason: str) -> FeedError:
    if status >= 500:
        hint = f"the blog's server had a problem; {NEXT_POLL}"
    elif status in (401, 403):
        hint = "the blog refuses this request: make the feed public, or check feed.url"
    else:
        hint = (
            "check feed.url in mailer.toml: open it in a browser (a blog's feed is often at "
            "/feed, /rss.xml or /blog-feed.xml)"
        )
    return FeedError(f"feed {name}: the server answered {status} {reason}".rstrip(), hint=hint)


def _check_size(name: str, size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise FeedError(
            f"feed {name}: larger than {max_bytes // 1024 // 1024} MB",
            hint="check that feed.url is the blog's feed, not a media file or an archive",
        )


def _check_is_feed(name: str, final_url: str, data: bytes, content_type: str) -> None:
    """Refuse an empty answer or a web page; anything else is left to the feed parser."""
    if not data.strip():
        raise FeedError(
            f"feed {name}: the answer was empty",
            hint=f"open the address in a browser to check it; {NEXT_POLL}",
        )
    if sniff(data) == "feed":
        return
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    is_page = head.startswith((b"<!doctype html", b"<html")) or (
        content_type.split(";")[0].strip().lower() == "text/html"
    )
    if not is_page:
        return  # an XML feed with a long prologue, say: the parser decides
    found = discover_feed(data, final_url)
    raise FeedError(
        f"feed {name}: a web page, not an RSS or Atom feed",
        hint=f"set feed.url in mailer.toml to the page's feed: {found}"
        if found
        else "set feed.url in mailer.toml to the blog's feed (often /feed, /rss.xml or "
        "/blog-feed.xml; the blog's settings name it)",
    )


def discover_feed(page: bytes, base_url: str) -> str:
    """The feed a web page announces (<link rel="alternate" type="application/rss+xml">)."""
    text = page[:200_000].decode("utf-8", "replace")
    for tag in _LINK_TAG.findall(text):
        attributes = {
            match.group(1).lower(): unescape(match.group(2) or match.group(3) or match.group(4))
            for match in _ATTRIBUTE.finditer(tag)
        }
        rel = attributes.get("rel", "").lower().split()
        if "alternate" in rel and attributes.get("type", "").lower() in _FEED_TYPES:
            href = attributes.get("href", "").strip()
            if href:
                return urljoin(base_url, href)
    return ""
