"""Markdown articles, with optional front matter (title, url, date, summary, image).

Headings start sections (levels relative: ## and ### are section and sub-section); paragraphs,
bullet and numbered lists (a list inside an item nested under it) and images become blocks.
Inline formatting is dropped: the Article holds plain text. The title is the front matter's,
else the first level-1 heading (which then is not repeated as a section).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import frontmatter
import yaml
from markdown_it import MarkdownIt
from markdown_it.token import Token

from mailer.articles.model import (
    Article,
    Block,
    Image,
    ListBlock,
    Paragraph,
    Section,
    relevel,
)
from mailer.articles.text import normalize_inline
from mailer.errors import ArticleError


def parse_markdown(text: str, *, name: str = "") -> Article:
    try:
        post = frontmatter.loads(text)
    except yaml.YAMLError as err:
        raise ArticleError(
            f"{name}: the front matter between the --- lines is not valid YAML: {err}",
            hint='write one "key: value" a line, e.g. title: "Sleep position and neck pain"',
        ) from err
    meta: dict[str, Any] = dict(post.metadata)
    title = normalize_inline(str(meta.get("title") or ""))
    sections, leading_h1 = _sections(post.content)
    if leading_h1:
        title, sections = _title(title, sections)
    else:
        relevel(sections)
    return Article(
        title=title,
        url=str(meta["url"]).strip() if meta.get("url") else None,
        date=_date(meta.get("date"), name),
        summary=normalize_inline(str(meta.get("summary") or meta.get("description") or "")),
        image=_image(meta.get("image")),
        sections=sections,
        source=name,
    )


def _title(title: str, sections: list[Section]) -> tuple[str, list[Section]]:
    """The leading ``# heading`` is the title when the front matter gives none (or the same)."""
    first = sections[0]
    if title and first.heading != title:
        return title, sections
    # The title heading is not a section; the text under it is the introduction.
    rest = sections[1:]
    relevel(rest)
    if first.blocks:
        rest.insert(0, Section(heading=None, blocks=first.blocks))
    return first.heading or title, rest


def _sections(source: str) -> tuple[list[Section], bool]:
    """Sections from Markdown, and whether the text starts with a level-1 heading."""
    tokens = MarkdownIt("commonmark").parse(source)
    sections: list[Section] = [Section(heading=None)]
    leading_h1 = False
    list_stack: list[ListBlock] = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        blocks: list[Block] = sections[-1].blocks
        if token.type == "heading_open":
            text = _inline_text(tokens[index + 1])
            if token.tag == "h1" and len(sections) == 1 and not sections[0].blocks:
                leading_h1 = True
            sections.append(Section(heading=text, level=int(token.tag[1:])))  # depth for now
            index += 3
            continue
        if token.type in {"bullet_list_open", "ordered_list_open"}:
            ordered = token.type == "ordered_list_open"
            block = ListBlock(items=[], ordered=ordered, start=int(token.attrGet("start") or 1))
            if not ordered:
                block.start = 1
            if list_stack and list_stack[-1].items:  # a list inside an item: nested under it
                outer = list_stack[-1]
                outer.nested[len(outer.items) - 1] = block
            elif list_stack:  # a list before any text of its item: its items join the outer
                block = list_stack[-1]
            else:
                blocks.append(block)
            list_stack.append(block)
        elif token.type in {"bullet_list_close", "ordered_list_close"}:
            list_stack.pop()
        elif token.type == "inline":
            text = _inline_text(token)
            if list_stack:
                if text:
                    list_stack[-1].items.append(text)
            else:
                if text:
                    blocks.append(Paragraph(text))
                blocks.extend(_images(token))
        index += 1
    return [section for section in sections if section.heading or section.blocks], leading_h1


def _inline_text(token: Token) -> str:
    """The plain text of an inline token: link texts kept, images and markup dropped."""
    parts: list[str] = []
    for child in token.children or []:
        if child.type in {"text", "code_inline", "html_inline"}:
            parts.append(child.content if child.type != "html_inline" else "")
        elif child.type in {"softbreak", "hardbreak"}:
            parts.append(" ")
    return normalize_inline("".join(parts))


def _images(token: Token) -> list[Image]:
    images = []
    for child in token.children or []:
        if child.type == "image":
            src = str(child.attrs.get("src") or "")
            alt = normalize_inline("".join(c.content for c in child.children or []))
            if src:
                images.append(Image(src=src, alt=alt))
    return images


def _date(value: Any, name: str) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        raise ArticleError(
            f"{name}: date: {value!r} is not a date",
            hint="write the date as year-month-day, e.g. date: 2025-03-04",
        ) from None


def _image(value: Any) -> Image | None:
    if isinstance(value, str) and value.strip():
        return Image(src=value.strip())
    if isinstance(value, dict) and value.get("src"):
        return Image(src=str(value["src"]).strip(), alt=normalize_inline(str(value.get("alt", ""))))
    return None
