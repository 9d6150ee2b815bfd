"""RSS and Atom feeds: one Article per entry, newest first, each with its stable entry id.

The entry's HTML (full content, else its summary) is sanitized and read like any HTML
fragment. feedparser only ever gets bytes: fetching is done by ``fetch.fetch``, with its
timeout and size cap, never by feedparser itself.
"""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Any

import feedparser

from mailer.articles.html_blocks import html_to_sections, without_title_heading
from mailer.articles.model import Article, Image, Paragraph, Section
from mailer.articles.sanitize import is_tracker_image
from mailer.articles.text import normalize_inline, normalize_lines
from mailer.errors import ArticleError

_HTML_TYPES = {"text/html", "application/xhtml+xml", "html", "xhtml"}


def parse_feed(data: bytes, *, name: str = "", limit: int | None = None) -> list[Article]:
    parsed = feedparser.parse(data, sanitize_html=False, resolve_relative_uris=False)
    if not parsed.get("version") and not parsed.entries:
        problem = parsed.get("bozo_exception")
        raise ArticleError(
            f"{name}: not an RSS or Atom feed" + (f" ({problem})" if problem else ""),
            hint="give the feed's address (often /feed, /rss.xml or /blog-feed.xml) or a page",
        )
    feed_link = str(parsed.feed.get("link") or "") or None
    articles = [_entry_article(entry, name, feed_link) for entry in parsed.entries]
    articles = [article for article in articles if article.sections or article.title]
    # Newest first; entries without a date keep their order, after the dated ones.
    articles.sort(key=lambda article: article.date or date.min, reverse=True)
    return articles[:limit] if limit is not None else articles


def _entry_article(entry: Any, name: str, feed_link: str | None) -> Article:
    link = str(entry.get("link") or "").strip() or None
    html, is_html = _entry_body(entry)
    base = link or feed_link
    if is_html:
        sections = html_to_sections(html, base_url=base)
    else:
        paragraphs = [Paragraph(line) for line in normalize_lines(html) if line]
        sections = [Section(heading=None, blocks=list(paragraphs))] if paragraphs else []
    title_type = str((entry.get("title_detail") or {}).get("type") or "text/html")
    title = str(entry.get("title") or "")
    title = normalize_inline(_plain(title) if title_type in _HTML_TYPES else title)
    summary_html = str(entry.get("summary") or "")
    summary = " ".join(p.text for s in html_to_sections(summary_html) for p in _paragraphs(s))
    sections = without_title_heading(title, sections)
    return Article(
        title=title,
        url=link,
        date=_entry_date(entry),
        summary=normalize_inline(summary),
        image=_entry_image(entry, sections),
        sections=sections,
        source=f"{name} (entry {link or title})",
        entry_id=_entry_id(entry, link, title),
    )


def _entry_body(entry: Any) -> tuple[str, bool]:
    """The fullest body: content:encoded / Atom content, else the summary."""
    for content in entry.get("content") or []:
        value = str(content.get("value") or "")
        if value.strip():
            return value, str(content.get("type") or "text/html") in _HTML_TYPES
    detail = entry.get("summary_detail") or {}
    return str(entry.get("summary") or ""), str(detail.get("type") or "text/html") in _HTML_TYPES


def _paragraphs(section: Section) -> list[Paragraph]:
    return [block for block in section.blocks if isinstance(block, Paragraph)]


def _plain(text: str) -> str:
    """An HTML title may carry markup or entities; keep its text only."""
    return " ".join(p.text for s in html_to_sections(text) for p in _paragraphs(s))


def _entry_date(entry: Any) -> date | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(key)
        if value:
            return date(value.tm_year, value.tm_mon, value.tm_mday)
    return None


def _entry_id(entry: Any, link: str | None, title: str) -> str:
    """The entry's guid/id, else its link, else a hash of its title: stable across polls."""
    value = str(entry.get("id") or "").strip() or link
    if value:
        return value
    return "sha1:" + hashlib.sha1(title.encode("utf-8")).hexdigest()


def _entry_image(entry: Any, sections: list[Section]) -> Image | None:
    candidates: list[str] = []
    for key in ("media_thumbnail", "media_content"):
        candidates += [str(item.get("url") or "") for item in entry.get(key) or []]
    for link in entry.get("links") or []:
        if link.get("rel") == "enclosure" and str(link.get("type") or "").startswith("image/"):
            candidates.append(str(link.get("href") or ""))
    for src in candidates:
        if src.startswith(("http://", "https://")) and not is_tracker_image(src):
            return Image(src=src)
    for section in sections:
        for block in section.blocks:
            if isinstance(block, Image):
                return block
    return None
