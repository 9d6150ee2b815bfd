"""An article's blocks as campaign Markdown, for drafting: paragraphs, lists and images.

Text is escaped by :func:`mailer.campaigns.markdown.escape_inline`, so that it renders as the
article wrote it and never turns into markup or a shortcode.
"""

from __future__ import annotations

from mailer.articles.model import Block, Image, ListBlock, Paragraph
from mailer.campaigns.markdown import escape_inline


def image(block: Image) -> str:
    src = block.src.strip().replace(" ", "%20").replace("(", "%28").replace(")", "%29")
    return f"![{escape_inline(block.alt)}]({src})"


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
