"""Reading an article source from a file, refused early when unusable (an http(s) address is
fetched by :mod:`mailer.articles.fetch`, with the same checks).

Every refusal is an ArticleError naming the source and what to do. The kind of source
(page export, Markdown, HTML, feed) is chosen from the extension, the content type or the
first bytes, in that order of trust.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from mailer.errors import ArticleError

Kind = Literal["page", "markdown", "html", "feed"]

MAX_BYTES = 5 * 1024 * 1024

_EXTENSIONS: dict[str, Kind] = {
    ".txt": "page",
    ".text": "page",
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
    ".xml": "feed",
    ".rss": "feed",
    ".atom": "feed",
}
CHARSET = re.compile(rb"""charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_XML_ENCODING = re.compile(rb"""^<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9_.:-]+)""")


@dataclass
class Source:
    """The raw bytes of one source, its kind, and where it came from."""

    name: str  # the path or address, for messages
    data: bytes
    kind: Kind
    url: str | None = None  # the final address when fetched over http(s)
    charset: str | None = None  # declared by the server, if any

    @property
    def text(self) -> str:
        return decode(self.data, self.name, self.charset)


def is_address(source: str | Path) -> bool:
    return isinstance(source, str) and re.match(r"^https?://", source, re.IGNORECASE) is not None


def read_source(source: str | Path) -> Source:
    """The bytes and kind of a file path (an http(s) address is read by
    :func:`mailer.articles.fetch.fetch`, which :mod:`mailer.articles.loader` calls instead)."""
    text = str(source)
    if re.match(r"^[a-z][a-z0-9+.-]*://", text, re.IGNORECASE):
        raise ArticleError(
            f"{text}: only http:// and https:// addresses can be fetched",
            hint="save the page as a file and give its path, or use an http(s) address",
        )
    return read_file(Path(source))


def read_file(path: Path) -> Source:
    name = str(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ArticleError(
            f"{name}: no such file",
            hint="check the path (relative paths start from the current folder)",
        ) from None
    except OSError as err:
        raise ArticleError(f"{name}: cannot be read ({err.strerror})") from err
    if path.is_dir():
        raise ArticleError(f"{name} is a folder, not an article file", hint="name one file in it")
    check_size(name, size)
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_BYTES + 1)  # a file growing under us is still capped
    except OSError as err:
        raise ArticleError(f"{name}: cannot be read ({err.strerror})") from err
    return source_from_bytes(name, data)


def source_from_bytes(name: str, data: bytes) -> Source:
    """A source whose bytes are already here (a file read, an upload, pasted text): capped,
    checked, and its kind chosen from ``name``'s extension, else from the first bytes."""
    check_size(name, len(data))
    check_content(name, data)
    kind = _EXTENSIONS.get(Path(name).suffix.lower()) or sniff(data)
    if kind == "page" and sniff(data) in {"html", "feed"}:
        kind = sniff(data)  # a web page or feed saved under a .txt name
    return Source(name=name, data=data, kind=kind)


def check_size(name: str, size: int) -> None:
    if size > MAX_BYTES:
        raise ArticleError(
            f"{name}: too large ({size / 1024 / 1024:.1f} MB; an article is at most "
            f"{MAX_BYTES // 1024 // 1024} MB)",
            hint="give the article itself (the page's text, Markdown or HTML), not an archive "
            "or a media file",
        )


def check_content(name: str, data: bytes) -> None:
    """Refuse empty and binary content before any importer sees it."""
    if not data.strip():
        raise ArticleError(
            f"{name}: empty, there is no article in it",
            hint="copy the article's text into the file and save it, then try again",
        )
    if b"\x00" in data[:65536]:
        raise ArticleError(
            f"{name}: a binary file (an image, PDF or document?), not article text",
            hint="save the article as plain text (.txt), Markdown (.md) or a web page (.html)",
        )


def decode(data: bytes, name: str, charset: str | None = None) -> str:
    """UTF-8 unless a charset is declared (HTTP header, <meta charset> or XML declaration)."""
    declared = charset or _declared_charset(data)
    for encoding in dict.fromkeys([declared or "utf-8-sig", "utf-8-sig"]):
        try:
            return data.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            continue
    raise ArticleError(
        f"{name}: not readable as text (it is not UTF-8)",
        hint="save it again as UTF-8 text (most editors offer this under Save As)",
    )


def _declared_charset(data: bytes) -> str | None:
    head = data[:2048]
    match = _XML_ENCODING.match(head.lstrip()) or CHARSET.search(head)
    return match.group(1).decode("ascii") if match else None


def looks_like_feed(data: bytes) -> bool:
    head = data[:2048].lstrip().lower()
    return head.startswith((b"<rss", b"<feed", b"<rdf:rdf")) or (
        head.startswith(b"<?xml") and any(tag in head for tag in (b"<rss", b"<feed", b"<rdf:rdf"))
    )


def sniff(data: bytes) -> Kind:
    """The kind of a source from its first bytes, for unknown extensions and content types."""
    if looks_like_feed(data):
        return "feed"
    head = data[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith((b"<!doctype html", b"<html", b"<?xml", b"<head", b"<body")):
        return "html"
    if head.startswith(b"---\n") or head.startswith(b"---\r\n") or head.startswith(b"# "):
        return "markdown"
    return "page"
