"""The one Article model every importer produces and the drafting reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date


@dataclass
class Paragraph:
    text: str


@dataclass
class ListBlock:
    items: list[str]
    ordered: bool = False


@dataclass
class Image:
    src: str
    alt: str = ""


Block = Paragraph | ListBlock | Image


@dataclass
class Section:
    """A run of blocks under one heading; the first section of an article may have no heading."""

    heading: str | None
    blocks: list[Block] = field(default_factory=list)


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
