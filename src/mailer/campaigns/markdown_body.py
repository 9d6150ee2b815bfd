"""A campaign's Markdown body -> blocks of sanitized HTML (with plain text twins) and buttons.

The body convention: standard Markdown plus block shortcodes alone on their own line:

    [[cta]]                                  the consultation button (front matter cta, else
                                             booking.cta_text / booking.url); the first is
                                             "cta-top", the last of several "cta-bottom"
    [[button "Read the full article" URL]]   a button to any link; place "read-more" for text
                                             starting with "Read", else a slug of the text

Raw HTML in the Markdown is not honoured (shown as text), and the result is sanitized with nh3
anyway. An unknown ``[[...]]`` line stays in the output as text, where `mailer check` reports it
as an unfilled placeholder.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

import nh3
from markdown_it import MarkdownIt
from markdown_it.token import Token
from markupsafe import Markup

from mailer.campaigns.links import LinkRegistry, place_for_text

_MD = MarkdownIt("commonmark", {"html": False, "typographer": False})
_SHORTCODE_LINE = re.compile(r"^[ \t]*\[\[(.*?)\]\][ \t]*$", re.MULTILINE)
_BUTTON = re.compile(r"""^button\s+["“](?P<text>[^"”]+)["”]\s+(?P<url>\S+)$""")
_URL_SCHEMES = {"http", "https", "mailto", "tel"}
TEXT_WIDTH = 76  # plain-text lines, as mail readers expect
_MUNGED = re.compile(r"[\t\x0b\x0c\r]")  # textwrap's whitespace, besides " " and "\n"


@dataclass(frozen=True)
class Block:
    """One piece of the body: ``html`` (sanitized) or a ``button``; ``text`` is its plain twin."""

    kind: Literal["html", "button"]
    text: str
    html: Markup = field(default_factory=Markup)
    label: str = ""
    href: str = ""
    place: str = ""


def render_body(markdown: str, registry: LinkRegistry, cta_text: str, cta_url: str) -> list[Block]:
    """Split the body at shortcodes and render each part, registering every link."""
    pieces = _split(markdown)
    cta_count = sum(1 for kind, _ in pieces if kind == "cta")
    blocks: list[Block] = []
    seen_cta = 0
    for kind, value in pieces:
        if kind == "markdown":
            if value.strip():
                blocks.append(_markdown_block(value, registry))
        elif kind == "cta":
            seen_cta += 1
            place = _cta_place(seen_cta, cta_count)
            blocks.append(_button(cta_text, cta_url, place, registry))
        else:
            match = _BUTTON.match(value)
            assert match is not None  # _split only yields buttons that match
            text, url = match["text"].strip(), match["url"]
            place = place_for_text(text) or "button"
            blocks.append(_button(text, url, place, registry))
    return blocks


def _split(markdown: str) -> list[tuple[str, str]]:
    """("markdown", text) / ("cta", "") / ("button", shortcode) pieces in order."""
    pieces: list[tuple[str, str]] = []
    position = 0
    for match in _SHORTCODE_LINE.finditer(markdown):
        code = match[1].strip()
        if code == "cta":
            kind = "cta"
        elif _BUTTON.match(code):
            kind = "button"
        else:
            continue  # unknown: left as text for `mailer check` to report
        pieces.append(("markdown", markdown[position : match.start()]))
        pieces.append((kind, code))
        position = match.end()
    pieces.append(("markdown", markdown[position:]))
    return pieces


def _cta_place(number: int, count: int) -> str:
    if number == 1:
        return "cta-top"
    return "cta-bottom" if number == count else "cta-middle"


def _button(text: str, url: str, place: str, registry: LinkRegistry) -> Block:
    href = registry.href(url, place=place, text=text)
    return Block(kind="button", text=f"{text}: {href}", label=text, href=href, place=place)


def _markdown_block(markdown: str, registry: LinkRegistry) -> Block:
    tokens = _parse(markdown)
    hrefs: dict[int, str] = {}  # id(link_open token) -> href as sent; cached tokens stay as is
    for token in tokens:
        if token.type == "inline" and token.children:
            hrefs.update(_link_hrefs(token.children, registry))
    raw_html = _MD.renderer.render(tokens, _MD.options, {"hrefs": hrefs})
    safe = nh3.clean(raw_html, url_schemes=_URL_SCHEMES, link_rel=None)
    return Block(kind="html", html=Markup(safe), text=_plain_text(tokens, hrefs))


@lru_cache(maxsize=256)
def _parse(markdown: str) -> tuple[Token, ...]:
    """Parsing is most of the cost of a compile (pure Python); a re-render parses nothing."""
    return tuple(_MD.parse(markdown))


def _link_hrefs(children: Sequence[Token], registry: LinkRegistry) -> dict[int, str]:
    found = {}
    for position, token in enumerate(children):
        if token.type == "link_open":
            label = _link_label(children, position)
            href = str(token.attrGet("href") or "")
            found[id(token)] = registry.href(href, text=label)
    return found


def _render_link_open(
    renderer: Any, tokens: Sequence[Token], idx: int, options: Any, env: dict[str, Any]
) -> str:
    token = tokens[idx]
    href = env.get("hrefs", {}).get(id(token))
    if href is not None:
        token = token.copy(attrs={**token.attrs, "href": href})
    return str(renderer.renderToken([token], 0, options, env))


_MD.add_render_rule("link_open", _render_link_open)


def _link_label(children: Sequence[Token], start: int) -> str:
    words = []
    for token in children[start + 1 :]:
        if token.type == "link_close":
            break
        if token.type in {"text", "code_inline"}:
            words.append(token.content)
        elif token.type == "image":
            words.append(str(token.attrGet("alt") or token.content))
    return "".join(words)


def _plain_text(tokens: Sequence[Token], hrefs: dict[int, str]) -> str:
    """Plain text for the text/plain part: headings underlined, lists marked, links written out."""
    lines: list[str] = []
    lists: list[list[int]] = []  # per open list: [is_ordered, next number]
    prefix = ""
    quote = 0
    heading = False
    for token in tokens:
        kind = token.type
        if kind in {"bullet_list_open", "ordered_list_open"}:
            start = int(token.attrGet("start") or 1)
            lists.append([kind == "ordered_list_open", start])
        elif kind in {"bullet_list_close", "ordered_list_close"}:
            lists.pop()
            if not lists:
                lines.append("")
        elif kind == "list_item_open":
            ordered, number = lists[-1]
            indent = "   " * (len(lists) - 1)
            prefix = indent + (f"{number}. " if ordered else "- ")
            lists[-1][1] = number + 1
        elif kind == "blockquote_open":
            quote += 1
        elif kind == "blockquote_close":
            quote -= 1
        elif kind == "hr":
            lines.extend(["-" * 20, ""])
        elif kind in {"fence", "code_block"}:
            lines.extend([*token.content.rstrip("\n").splitlines(), ""])
        elif kind == "heading_open":
            heading = True
        elif kind == "inline":
            text = _inline_text(token.children or [], hrefs)
            if not text:
                continue
            first = prefix or ("   " * len(lists) if lists else "")
            rest = " " * len(first) if prefix else first
            prefix = ""
            if heading:
                lines.append(first + text.replace("\n", " "))
                heading = False
            else:
                lines.append(_wrap(text, "> " * quote, first, rest))
            if not lists:
                lines.append("")
        elif kind == "heading_close":
            title = lines[-2] if lines and lines[-1] == "" else ""
            if title:
                underline = "=" if token.tag in {"h1", "h2"} else "-"
                lines.insert(len(lines) - 1, underline * min(len(title), 70))
    return "\n".join(lines).strip("\n")


def _wrap(text: str, quote: str, first: str, rest: str) -> str:
    """Wrap at TEXT_WIDTH for plain-text readers; never break a word or a URL."""
    out = []
    for number, line in enumerate(text.split("\n")):
        indent = quote + (first if number == 0 else rest)
        if _fits(line, len(indent)):
            out.append(indent + line)  # what textwrap.fill gives a line that fits, 10x faster
            continue
        out.append(
            textwrap.fill(
                line,
                TEXT_WIDTH,
                initial_indent=quote + (first if number == 0 else rest),
                subsequent_indent=quote + rest,
                break_long_words=False,
                break_on_hyphens=False,
            )
        )
    return "\n".join(out)


def _fits(line: str, indent: int) -> bool:
    """True if textwrap.fill keeps ``line`` as it is, after its indent: it fits, is not empty,
    ends in no whitespace (dropped) and holds no tab or other whitespace that textwrap turns into
    spaces (a tab also changes the length)."""
    return (
        bool(line)
        and indent + len(line) <= TEXT_WIDTH
        and not line[-1].isspace()
        and _MUNGED.search(line) is None
    )


def _inline_text(children: Sequence[Token], hrefs: dict[int, str]) -> str:
    out: list[str] = []
    href_stack: list[tuple[str, int]] = []
    for token in children:
        kind = token.type
        if kind in {"text", "code_inline"}:
            out.append(token.content)
        elif kind == "softbreak":
            out.append(" ")
        elif kind == "hardbreak":
            out.append("\n")
        elif kind == "link_open":
            href = hrefs.get(id(token), str(token.attrGet("href") or ""))
            href_stack.append((href, len(out)))
        elif kind == "link_close" and href_stack:
            href, start = href_stack.pop()
            label = "".join(out[start:]).strip()
            if href and href != label:
                out.append(f" ({href})" if label else href)
    return "".join(out).strip()
