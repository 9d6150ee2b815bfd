"""The one Article model every importer produces and the drafting reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date


@dataclass
class Paragraph:
    text: str


@dataclass
class ListBlock:
    """A bullet or numbered list. ``start`` is the first item's number as the article wrote it
    (steps interrupted by text go on counting); ``nested`` holds the list written under an item
    (by the item's index): the bullets of a numbered step stay with that step."""

    items: list[str]
    ordered: bool = False
    start: int = 1
    nested: dict[int, ListBlock] = field(default_factory=dict)


@dataclass
class Image:
    src: str
    alt: str = ""


Block = Paragraph | ListBlock | Image


@dataclass
class Section:
    """A run of blocks under one heading; the first section of an article may have no heading.

    ``level`` is the heading's depth below the article's title: 1 a section, 2 a sub-section
    under the section before it, and so on. Only the relation matters, never the tag the source
    used (an article written with h3 and h4 has levels 1 and 2).
    """

    heading: str | None
    blocks: list[Block] = field(default_factory=list)
    level: int = 1


@dataclass
class Article:
    title: str
    url: str | None = None
    date: date | None = None
    summary: str = ""
    image: Image | None = None
    sections: list[Section] = field(default_factory=list)
    source: str = ""  # where it came from (a path or an address), for messages
    entry_id: str = ""  # a feed entry's stable id, so the scheduler drafts each entry once

    @property
    def headings(self) -> list[str]:
        return [section.heading for section in self.sections if section.heading]

    @property
    def paragraphs(self) -> list[str]:
        return [
            block.text
            for section in self.sections
            for block in section.blocks
            if isinstance(block, Paragraph)
        ]


def relevel(sections: list[Section]) -> None:
    """Levels made relative, in place: on entry ``level`` holds the depth written (h2=2...).

    The shallowest depth is level 1; a heading is one level below the nearest shallower heading
    before it, so h2, h4 reads as section and sub-section, not as a skipped level.
    """
    stack: list[tuple[int, int]] = []  # (depth, level) of the open headings
    for section in sections:
        if not section.heading:
            continue
        depth = section.level
        while stack and stack[-1][0] >= depth:
            stack.pop()
        section.level = stack[-1][1] + 1 if stack else 1
        stack.append((depth, section.level))
