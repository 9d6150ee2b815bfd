"""The one entry point: any article source (file or http(s) address) to Article(s).

The importer is chosen from the extension, else the content type, else the first bytes
(see ``source.read_source``).

This is the one library module that imports lazily (tests/test_layers.py lists these imports
as its only exceptions): the HTML importer (trafilatura and lxml), the feed importer
(feedparser) and the fetch of an address (httpx), about 0.2, 0.07 and 0.14 s of CPU to import
here, are imported when a source needs them, so `mailer draft` on a page export or Markdown
file starts without them (tests/articles/test_articles_loader.py checks it). Every other module
imports at the top.
"""

from __future__ import annotations

from pathlib import Path

from mailer.articles.markdown import parse_markdown
from mailer.articles.model import Article, ListBlock
from mailer.articles.page_export import parse_page_export
from mailer.articles.source import Source, is_address, read_source, sniff, source_from_bytes
from mailer.errors import ArticleError


def load_articles(
    source: str | Path, *, url: str | None = None, limit: int | None = None
) -> list[Article]:
    """Every article in a source: a feed gives its entries (newest first), others one.

    ``url`` is the article's public address when the source does not say (a page export);
    ``limit`` caps the number of feed entries.
    """
    return _articles(_read(source), url, limit)


def load_articles_from_bytes(
    data: bytes, name: str, *, url: str | None = None, limit: int | None = None
) -> list[Article]:
    """As load_articles, for bytes that are already here (an uploaded file, pasted text).

    ``name`` stands for the path: its extension chooses the importer as a file's would
    (``.txt`` page export, ``.md``, ``.html``...), and messages name it.
    """
    return _articles(source_from_bytes(name, data), url, limit)


def _articles(raw: Source, url: str | None, limit: int | None) -> list[Article]:
    if raw.kind == "feed":
        articles = _feed(raw, limit)
        if url and len(articles) == 1:
            articles[0].url = url
        return articles
    return [_single(raw, url)]


def load_article(source: str | Path, *, url: str | None = None) -> Article:
    """One article; for a feed, its newest entry."""
    article = load_articles(source, url=url, limit=1)[0]
    if url:
        article.url = url
    return article


def load_feed(source: str | Path, limit: int | None = None) -> list[Article]:
    """The entries of an RSS or Atom feed (a file or an http(s) address), newest first."""
    raw = _read(source)
    if raw.kind != "feed" and sniff(raw.data) != "feed":
        raise ArticleError(
            f"{raw.name}: not an RSS or Atom feed",
            hint="give the blog's feed address (often /feed, /rss.xml or /blog-feed.xml)",
        )
    return _feed(raw, limit)


def _read(source: str | Path) -> Source:
    if is_address(source):
        from mailer.articles.fetch import fetch  # lazy: httpx (see the module docstring)

        return fetch(str(source))
    return read_source(source)


def _feed(raw: Source, limit: int | None) -> list[Article]:
    from mailer.articles.feed import parse_feed  # lazy: feedparser (see the module docstring)

    articles = parse_feed(raw.data, name=raw.name, limit=limit)
    if not articles:
        raise ArticleError(
            f"{raw.name}: the feed has no entries",
            hint="publish an article on the blog first, or check the feed's address",
        )
    for article in articles:
        # a title and a link still make a teaser
        finish_article(article, raw.name, require_text=False)
    return articles


def _single(raw: Source, url: str | None) -> Article:
    text = raw.text
    if raw.kind == "markdown":
        article = parse_markdown(text, name=raw.name)
    elif raw.kind == "html":
        from mailer.articles.html_page import parse_html_page  # lazy: trafilatura, lxml

        article = parse_html_page(text, name=raw.name, url=raw.url)
    else:
        article = parse_page_export(text, name=raw.name)
    if url:
        article.url = url
    elif not article.url and raw.url:
        article.url = raw.url
    finish_article(article, raw.name)
    return article


def finish_article(article: Article, name: str, *, require_text: bool = True) -> None:
    """Every importer's last step: refuse an article without text; fill in the summary."""
    paragraphs = article.paragraphs
    has_items = any(
        isinstance(block, ListBlock) and block.items
        for section in article.sections
        for block in section.blocks
    )
    if require_text and not paragraphs and not has_items:
        raise ArticleError(
            f"{name}: no article text found in it",
            hint="check that the file holds the article itself (for a web page, save the "
            "article's own page, not the blog's index), or copy its text into a .txt file",
        )
    if not article.summary:
        article.summary = paragraphs[0] if paragraphs else ""
    if not article.source:
        article.source = name
    if not article.title:
        article.title = next(iter(article.headings), "") or _first_words(article)


def _first_words(article: Article) -> str:
    words = " ".join(article.paragraphs).split()
    if not words:
        return "Untitled article"
    return " ".join(words[:8]) + ("…" if len(words) > 8 else "")
