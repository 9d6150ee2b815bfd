"""Articles from page exports, Markdown, HTML pages and feeds, all into one Article model.

``load_article(source, url=...)`` and ``load_articles(source, ...)`` take a path or an http(s)
address and choose the importer; ``load_feed(source, limit)`` reads an RSS or Atom feed.
Importing this package (or any module in it) loads every importer with its libraries
(trafilatura, feedparser, httpx: about half a second), so only drafting imports it: rendering,
checking and sending a campaign never do (mailer.campaigns.markdown knows no articles), and the
command line imports the drafting commands' modules only when they run.
"""

from mailer.articles.loader import load_article, load_articles, load_feed
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
    "load_feed",
]
