"""Sanitized HTML to sections: headings start sections; p, li, img and loose text become blocks.

Heading levels are kept relative (h2 and h3: section and sub-section); a list inside a list
item stays nested under that item; a figure's caption becomes its image's alt text when the
image has none, and is not left as a paragraph of its own.

Used for an HTML page's main content (after trafilatura) and for a feed entry's content.
The input is always passed through ``clean_html`` first, so nothing active gets this far.
"""

from __future__ import annotations

from collections.abc import Collection
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

from mailer.articles.model import Block, Image, ListBlock, Paragraph, Section, relevel
from mailer.articles.sanitize import clean_html, is_tracker_image
from mailer.articles.text import normalize_inline

_HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
# Tags that end the running paragraph (the text before and after them is not one paragraph).
_BREAKING = {
    "p", "div", "section", "article", "main", "header", "blockquote", "figure", "figcaption",
    "pre", "table", "tr", "td", "th", "dl", "dt", "dd", "hr", "br", "ul", "ol", "li",
    *_HEADINGS,
}  # fmt: skip


def html_to_sections(
    html: str, *, base_url: str | None = None, exclude: Collection[str] = ()
) -> list[Section]:
    """Sections from an (untrusted) HTML fragment; relative image addresses resolved.

    ``exclude`` names image addresses known to be trackers (found before trafilatura).
    """
    parser = _BlockParser(base_url, exclude)
    parser.feed(clean_html(html))
    parser.close()
    return parser.finish()


def without_title_heading(title: str, sections: list[Section]) -> list[Section]:
    """A leading heading that repeats the title is not a section of its own."""
    if not sections or not title or (sections[0].heading or "").casefold() != title.casefold():
        return sections
    first, rest = sections[0], sections[1:]
    relevel(rest)  # levels are levels below the title now
    return [Section(heading=None, blocks=first.blocks), *rest] if first.blocks else rest


class _BlockParser(HTMLParser):
    def __init__(self, base_url: str | None, exclude: Collection[str]) -> None:
        super().__init__(convert_charrefs=True)
        self.base_url = base_url
        self.exclude = exclude
        self.sections: list[Section] = [Section(heading=None)]
        self.text: list[str] = []
        self.heading: list[str] | None = None
        self.lists: list[ListBlock] = []
        self.item: list[str] | None = None
        self.caption: list[str] | None = None

    # --- events -------------------------------------------------------------------------
    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BREAKING:
            self._flush()
        if tag in _HEADINGS:
            self.heading = []
        elif tag == "figcaption":
            self.caption = []
        elif tag in {"ul", "ol"}:
            self._end_item()
            block = ListBlock(items=[], ordered=tag == "ol", start=_start(dict(attrs), tag))
            if self.lists and self.lists[-1].items:  # a list inside an item: nested under it
                outer = self.lists[-1]
                outer.nested[len(outer.items) - 1] = block
            elif self.lists:  # before any text of its item: its items join the outer list
                block = self.lists[-1]
            else:
                self._blocks().append(block)
            self.lists.append(block)
        elif tag == "li":
            self._end_item()
            self.item = []
        elif tag == "img":
            self._image(dict(attrs))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in _HEADINGS and self.heading is not None:
            text = normalize_inline(" ".join(self.heading))
            self.heading = None
            if text:
                self.sections.append(Section(heading=text, level=int(tag[1])))  # depth for now
        elif tag == "figcaption" and self.caption is not None:
            self._end_caption()
        elif tag == "li":
            self._end_item()
        elif tag in {"ul", "ol"} and self.lists:
            self._end_item()
            self.lists.pop()
        elif tag in _BREAKING:
            self._flush()

    def handle_data(self, data: str) -> None:
        if self.heading is not None:
            self.heading.append(data)
        elif self.caption is not None:
            self.caption.append(data)
        elif self.item is not None:
            self.item.append(data)
        else:
            self.text.append(data)

    # --- building -----------------------------------------------------------------------
    def _blocks(self) -> list[Block]:
        return self.sections[-1].blocks

    def _flush(self) -> None:
        if self.item is not None:
            return  # block tags inside a list item stay in that item
        text = normalize_inline(" ".join(" ".join(self.text).split()))
        self.text = []
        if text:
            self._blocks().append(Paragraph(text))

    def _end_item(self) -> None:
        if self.item is None:
            return
        text = normalize_inline(" ".join(" ".join(self.item).split()))
        self.item = None
        if text and self.lists:
            self.lists[-1].items.append(text)

    def _end_caption(self) -> None:
        """A caption describes the image before it: its alt text if it has none, else gone."""
        text = normalize_inline(" ".join(" ".join(self.caption or []).split()))
        self.caption = None
        blocks = self._blocks()
        if text and blocks and isinstance(blocks[-1], Image) and not blocks[-1].alt:
            blocks[-1].alt = text

    def _image(self, attrs: dict[str, str | None]) -> None:
        raw = (attrs.get("src") or "").strip()
        if not raw:  # nh3 empties data: and javascript: addresses
            return
        src = urljoin(self.base_url, raw) if self.base_url else raw
        if urlsplit(src).scheme not in {"http", "https"}:
            return
        if raw in self.exclude or src in self.exclude:
            return
        if is_tracker_image(src, attrs.get("width"), attrs.get("height")):
            return
        if self.item is None and self.heading is None:
            self._flush()
            self._blocks().append(Image(src=src, alt=normalize_inline(attrs.get("alt") or "")))

    def finish(self) -> list[Section]:
        self._end_item()
        self._flush()
        relevel(self.sections)
        for section in self.sections:
            section.blocks = [block for block in section.blocks if _has_content(block)]
        return [section for section in self.sections if section.heading or section.blocks]


def _start(attrs: dict[str, str | None], tag: str) -> int:
    """An <ol start="3">'s first number (1 for a bullet list or a start that is no number)."""
    value = (attrs.get("start") or "").strip()
    return int(value) if tag == "ol" and value.isdigit() else 1


def _has_content(block: Block) -> bool:
    return not isinstance(block, ListBlock) or bool(block.items)
