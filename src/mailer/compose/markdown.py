"""Article text to Markdown that renders as written, and the body's block shortcodes.

BODY CONVENTION (shared with compose/render.py): standard Markdown plus shortcodes alone on
their own line: ``[[cta]]`` (the consultation call to action) and
``[[button "Label" https://...]]`` (a button to a link). Article text is escaped so that it
never turns into markup or a shortcode by accident.
"""

from __future__ import annotations

import re

from mailer.articles.model import Block, Image, ListBlock, Paragraph
from mailer.compose.text import squash

CTA = "[[cta]]"

# Inline characters that can start markup anywhere in a line. "[" covers links and "[[".
_INLINE = re.compile(r"([\\`*\[\]<>~])")
# "_" opens emphasis only at a word edge; inside snake_case it is plain.
_UNDERSCORE = re.compile(r"(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")
# Character references: "&copy;" or "&#169;" would render as ©.
_ENTITY = re.compile(r"&(?=#?[0-9A-Za-z]+;)")
# A line start that would become a heading, quote, list, rule ("-- -"), fence or table.
_LINE_START = re.compile(r"^(#{1,6}(?=\s|$)|[-+=>|~]|(\d{1,9})([.)])(?=\s|$))")
_TRAILING_HASHES = re.compile(r"(\s)(#+)$")


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
        if item.ordered:
            return "\n".join(
                f"{n}. {escape_inline(text)}" for n, text in enumerate(item.items, start=1)
            )
        return "\n".join(f"- {escape_inline(text)}" for text in item.items)
    return image(item)


def join_blocks(parts: list[str]) -> str:
    """Blocks separated by blank lines; empty parts dropped."""
    return "\n\n".join(part for part in parts if part.strip()) + "\n"
