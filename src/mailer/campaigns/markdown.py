"""Article text to Markdown that renders as written, and the body's block shortcodes.

BODY CONVENTION (shared with campaigns/render.py): standard Markdown plus shortcodes alone on
their own line: ``[[cta]]`` (the consultation call to action) and
``[[button "Label" https://...]]`` (a button to a link). Article text is escaped so that it
never turns into markup or a shortcode by accident.
"""

from __future__ import annotations

import re

from mailer.articles.model import Block, Image, ListBlock, Paragraph
from mailer.campaigns.text import squash

CTA = "[[cta]]"
READ_MORE = "Read more"  # a digest entry's button

# Inline characters that can start markup anywhere in a line. "[" covers links and "[[".
_INLINE = re.compile(r"([\\`*\[\]<>~])")
# "_" opens emphasis only at a word edge; inside snake_case it is plain.
_UNDERSCORE = re.compile(r"(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")
# Character references: "&copy;" or "&#169;" would render as ©.
_ENTITY = re.compile(r"&(?=#?[0-9A-Za-z]+;)")
# A line start that would become a heading, quote, list, rule ("-- -"), fence or table.
_LINE_START = re.compile(r"^(#{1,6}(?=\s|$)|[-+=>|~]|(\d{1,9})([.)])(?=\s|$))")
_TRAILING_HASHES = re.compile(r"(\s)(#+)$")
_HEADING_LINE = re.compile(r"^#{1,6}[ \t]+(?P<text>.*?)[ \t]*$")


def escape_inline(text: str) -> str:
    """Text on one line, with everything that Markdown would read as markup escaped."""
    text = squash(text)
    text = _INLINE.sub(r"\\\1", text)
    text = _UNDERSCORE.sub(r"\\_", text)
    text = _ENTITY.sub(r"\\&", text)
    return _LINE_START.sub(_escape_line_start, text)


def _escape_line_start(match: re.Match[str]) -> str:
    if match.group(2):  # "1. Not a list": escape the dot, not the number
        return f"{match.group(2)}\\{match.group(3)}"
    return "\\" + match.group(1)


def heading(text: str, level: int) -> str:
    # A trailing run of # would be read as the closing sequence and vanish.
    return "#" * level + " " + _TRAILING_HASHES.sub(r"\1\\\2", escape_inline(text))


def image(block: Image) -> str:
    src = block.src.strip().replace(" ", "%20").replace("(", "%28").replace(")", "%29")
    return f"![{escape_inline(block.alt)}]({src})"


def button(label: str, url: str) -> str:
    """A button shortcode; the label may not hold a double quote, the url no space."""
    label = squash(label).replace('"', "'").replace("“", "'").replace("”", "'")
    return f'[[button "{label}" {url.strip().replace(" ", "%20")}]]'


def block(item: Block) -> str:
    """One article block as Markdown."""
    if isinstance(item, Paragraph):
        return escape_inline(item.text)
    if isinstance(item, ListBlock):
        return "\n".join(_list_lines(item, ""))
    return image(item)


def _list_lines(item: ListBlock, indent: str) -> list[str]:
    """A list's lines; its numbers as the article wrote them, nested lists indented under
    their item (as far as the item's text starts, which CommonMark needs to nest them)."""
    lines = []
    for position, text in enumerate(item.items):
        marker = f"{item.start + position}." if item.ordered else "-"
        lines.append(f"{indent}{marker} {escape_inline(text)}")
        nested = item.nested.get(position)
        if nested is not None:
            lines.extend(_list_lines(nested, indent + " " * (len(marker) + 1)))
    return lines


def join_blocks(parts: list[str]) -> str:
    """Blocks separated by blank lines; empty parts dropped."""
    return "\n\n".join(part for part in parts if part.strip()) + "\n"


def with_entry_buttons(body: str, entries: list[tuple[str, str]]) -> str:
    """The body with a "Read more" button for each (title, url) entry that has none yet.

    A digest entry is a heading with the article's title and a short text under it. When staff
    fill in an entry's address in the front matter (``articles: - url:``) after drafting, the
    button goes after that text, as `mailer draft` would have put it. An entry whose address is
    already in the body, whose heading is not found, or that is not an http(s) address (`mailer
    check` reports it), is left as it is.
    """
    missing = [
        (title, url.strip())
        for title, url in entries
        if url.strip().lower().startswith(("http://", "https://")) and url.strip() not in body
    ]
    if not missing:
        return body  # the usual case, checked on every compile: no work beyond the search
    lines = body.split("\n")
    headings: dict[str, int] = {}
    for number, line in enumerate(lines):
        if line.startswith("#") and (match := _HEADING_LINE.match(line)):
            headings.setdefault(match["text"].casefold(), number)
    inserts: list[tuple[int, str]] = []
    for title, url in missing:
        found = headings.get(
            escape_inline(title).casefold(), headings.get(squash(title).casefold())
        )
        if found is not None:
            inserts.append((_entry_end(lines, found), button(READ_MORE, url)))
    for at, line in sorted(inserts, reverse=True):  # from the bottom: indexes stay right
        lines[at:at] = ["", line] + ([""] if at < len(lines) else [])
    return "\n".join(lines)


def _entry_end(lines: list[str], heading: int) -> int:
    """Where an entry's button goes: after the text block under its heading, if it has one."""
    at = heading + 1
    while at < len(lines) and not lines[at].strip():
        at += 1
    if at == len(lines) or lines[at].startswith(("#", "[[")):
        return heading + 1
    while at < len(lines) and lines[at].strip():
        at += 1
    return at
