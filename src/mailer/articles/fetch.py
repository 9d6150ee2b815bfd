"""Fetching an article from an http(s) address: a timeout, a size cap, the kind from the
content type (else the first bytes), every failure an ArticleError naming the address.

Apart from :mod:`mailer.articles.source` because it loads httpx (about 0.14 s of CPU): the loader
imports it only for an address, so `mailer draft` on a file never pays for it.
"""

from __future__ import annotations

import httpx

from mailer.articles.source import (
    CHARSET,
    Kind,
    Source,
    check_content,
    check_size,
    looks_like_feed,
    sniff,
)
from mailer.errors import ArticleError

FETCH_TIMEOUT = 20.0
USER_AGENT = "mailer/0.1 (newsletter article import)"


def fetch(address: str) -> Source:
    """GET an address with a timeout and a size cap; the kind comes from its content type."""
    try:
        with (
            httpx.Client(
                timeout=FETCH_TIMEOUT,
                follow_redirects=True,
                headers={"User-Agent": USER_AGENT},
            ) as client,
            client.stream("GET", address) as response,
        ):
            if response.status_code >= 400:
                raise ArticleError(
                    f"{address}: the server answered {response.status_code} "
                    f"{response.reason_phrase}",
                    hint="open the address in a browser to check it, or save the page as a file",
                )
            declared = response.headers.get("content-length", "")
            if declared.isdigit():
                check_size(address, int(declared))
            chunks: list[bytes] = []
            total = 0
            for chunk in response.iter_bytes():
                total += len(chunk)
                check_size(address, total)
                chunks.append(chunk)
            data = b"".join(chunks)
            content_type = response.headers.get("content-type", "")
            final_url = str(response.url)
    except httpx.HTTPError as err:
        raise ArticleError(
            f"{address}: could not be fetched ({err.__class__.__name__}: {err})",
            hint="check the address and your connection, or save the page as a file",
        ) from err
    check_content(address, data)
    match = CHARSET.search(content_type.encode("latin-1", "replace"))
    charset = match.group(1).decode("ascii") if match else None
    kind = _kind_of_content_type(content_type) or sniff(data)
    if kind == "html" and looks_like_feed(data):
        kind = "feed"  # some servers send feeds as text/html
    return Source(name=address, data=data, kind=kind, url=final_url, charset=charset)


def _kind_of_content_type(content_type: str) -> Kind | None:
    value = content_type.split(";")[0].strip().lower()
    if value in {"application/rss+xml", "application/atom+xml", "application/rdf+xml"}:
        return "feed"
    if value in {"text/html", "application/xhtml+xml"}:
        return "html"
    if value in {"text/markdown", "text/x-markdown"}:
        return "markdown"
    return None  # text/xml, text/plain, octet-stream...: look at the content
