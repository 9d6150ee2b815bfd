"""HTML pages: the main content only (trafilatura), sanitized (nh3), read into sections.

trafilatura finds the article among the page's navigation, sidebars and footers and gives it
as XML that keeps headings, ordered and bulleted lists and images; that XML is renamed to
plain HTML and then read like any other HTML fragment. Metadata (title from og:title, <title>
or h1; canonical address; date) comes from trafilatura too.
"""

from __future__ import annotations

from datetime import date
from html.parser import HTMLParser
from typing import Any

import trafilatura
from lxml import etree

from mailer.articles.html_blocks import html_to_sections, without_title_heading
from mailer.articles.model import Article, Image, ListBlock, Paragraph, Section
from mailer.articles.sanitize import is_tracker_image
from mailer.articles.text import normalize_inline

# Fewer words than this in the main content means trafilatura found navigation, not an article.
MIN_WORDS = 20

# trafilatura's XML element -> the HTML element it stands for.
_RENAME = {
    "item": "li",
    "graphic": "img",
    "lb": "br",
    "quote": "blockquote",
    "hi": "span",
    "ref": "span",
    "del": "span",
    "row": "tr",
    "cell": "td",
    "doc": "div",
    "main": "div",
    "code": "pre",
}


def parse_html_page(html: str, *, name: str = "", url: str | None = None) -> Article:
    """An Article from a whole HTML page; ``url`` is where it was fetched, if it was."""
    options: dict[str, Any] = {
        "output_format": "xml",
        "include_images": True,
        "include_tables": False,
        "include_comments": False,
        "url": url,
    }
    xml = trafilatura.extract(html, **options) or trafilatura.extract(
        html, favor_recall=True, **options
    )
    metadata = trafilatura.extract_metadata(html, default_url=url)
    trackers = _tracker_sources(html)
    sections: list[Section] = []
    if xml:
        base = (metadata.url if metadata else None) or url
        sections = html_to_sections(_xml_to_html(xml), base_url=base, exclude=trackers)
    title = normalize_inline((metadata.title if metadata else None) or "")
    if not title:
        title = next((s.heading for s in sections if s.heading), "") or ""
    sections = without_title_heading(title, sections)
    if _word_count(sections) < MIN_WORDS:
        sections = []  # a menu or a cookie banner, not an article: the loader refuses it
    image = None
    og_image = (metadata.image if metadata else None) or ""
    if og_image.startswith(("http://", "https://")) and not is_tracker_image(og_image):
        image = Image(src=og_image)
    else:  # the article's own first picture, if it has one
        image = next((b for s in sections for b in s.blocks if isinstance(b, Image)), None)
    return Article(
        title=title,
        url=(metadata.url if metadata else None) or url,
        date=_date(metadata.date if metadata else None),
        summary=normalize_inline((metadata.description if metadata else None) or ""),
        image=image,
        sections=sections,
        source=name,
    )


def _word_count(sections: list[Section]) -> int:
    count = 0
    for section in sections:
        for block in section.blocks:
            if isinstance(block, Paragraph):
                count += len(block.text.split())
            elif isinstance(block, ListBlock):
                count += sum(len(item.split()) for item in block.items)
    return count


def _xml_to_html(xml: str) -> str:
    root = etree.fromstring(xml.encode("utf-8"), parser=etree.XMLParser(recover=True))
    for comments in root.findall(".//comments"):
        comments.getparent().remove(comments)
    for element in root.iter():
        tag = element.tag
        if not isinstance(tag, str):
            continue
        if tag == "head":
            rend = element.get("rend") or "h2"
            element.tag = rend if rend in {"h1", "h2", "h3", "h4", "h5", "h6"} else "h2"
        elif tag == "list":
            element.tag = "ol" if element.get("rend") == "ol" else "ul"
        elif tag in _RENAME:
            element.tag = _RENAME[tag]
    return str(etree.tostring(root, method="html", encoding="unicode"))


def _date(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


class _TrackerFinder(HTMLParser):
    """Addresses of images sized 1x1 in the page (trafilatura drops the sizes)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "img":
            return
        values = dict(attrs)
        src = (values.get("src") or "").strip()
        style = (values.get("style") or "").replace(" ", "").lower()
        tiny_style = any(f"{side}:{n}px" in style for side in ("width", "height") for n in "01")
        hidden = "display:none" in style or "visibility:hidden" in style
        if src and (
            is_tracker_image(src, values.get("width"), values.get("height")) or tiny_style or hidden
        ):
            self.found.add(src)


def _tracker_sources(html: str) -> set[str]:
    finder = _TrackerFinder()
    finder.feed(html)
    finder.close()
    return finder.found
