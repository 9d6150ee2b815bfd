"""Articles from page exports, Markdown, HTML pages and feeds, all into one Article model.

``load_article(source, url=...)`` and ``load_articles(source, ...)`` take a path or an http(s)
address and choose the importer; ``load_feed(source, limit)`` reads an RSS or Atom feed;
``load_articles_from_bytes(data, name)`` takes an upload or pasted text instead of a path.
Importing this package stays cheap: the heavy importers (HTML pages, feeds, http addresses)
load only when a source needs them (see loader.py).
"""

from mailer.articles.loader import load_article, load_articles, load_articles_from_bytes, load_feed
from mailer.articles.model import Article, Block, Image, ListBlock, Paragraph, Section

__all__ = [
    "Article",
    "Block",
    "Image",
    "ListBlock",
    "Paragraph",
    "Section",
    "load_article",
    "load_articles",
    "load_articles_from_bytes",
    "load_feed",
]
