"""Page exports: the text of a blog page copied or scraped, one paragraph a line.

The page's furniture goes (top/bottom of page markers, dates, counters, the title repeated,
buttons, the site's disclaimer); what is left is read as a title, headings, paragraphs and lists.

A heading is a short line without closing punctuation that is followed by text. A run of short
lines straight after a line ending in ":" is a list written without bullets. A short line at
the very end, with nothing after it, is a button or call to action, not a heading.

Shape is kept, not only text: bullets written under a numbered step (indented deeper, or
followed by the next step) stay nested in that step, and steps keep their numbers when text
interrupts them. A sentence-case heading after a Title Case one ("Pinched nerves" under "Common
Causes of Leg Pain") is a sub-section of it. A sentence without closing punctuation just before
a heading is an image's caption, and an export has no image to attach it to: it goes.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from mailer.articles.model import Article, Block, ListBlock, Paragraph, Section
from mailer.articles.text import indentation, normalize_lines, split_lines

HEADING_MAX_CHARS = 90
HEADING_MAX_WORDS = 15
TITLE_MAX_CHARS = 150
CTA_MAX_CHARS = 60

_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_DATE = (
    rf"(?:{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?"
    rf"|\d{{1,2}}\s+{_MONTH}(?:\s+\d{{4}})?"
    r"|\d{4}-\d{2}-\d{2}|\d{1,2}/\d{1,2}/\d{2,4})"
)
# Whole lines that are page furniture, matched case-insensitively.
_FURNITURE = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"^(?:top|bottom) of (?:the )?page$",
        rf"^(?:last )?(?:updated|published|posted|modified)"
        rf"(?:\s*:\s*.{{0,40}}|\s+(?:on\s+)?{_DATE}.{{0,20}})$",
        rf"^{_DATE}$",
        rf"^(?:.{{0,40}}\s*[·|•-]\s*)?(?:{_DATE}\s*[·|•-]\s*)?\d+\s*min(?:ute)?s?\s+read$",
        rf"^.{{0,40}}\s*[·|•]\s*{_DATE}$",
        r"^(?:\d+\s*(?:views?|comments?|likes?|shares?)\s*)+$",
        r"^post (?:not )?marked as liked\d*$",
        r"^(?:share|like|comment|see all|writer's picture|write a comment\.*|log in to comment)$",
    )
]
# Everything from such a line on is the page's footer (other posts, comments).
_FOOTER_START = re.compile(
    r"^(?:recent|related|latest|more) (?:posts|articles)$|^comments$", re.IGNORECASE
)
_DISCLAIMER_HEADING = re.compile(r"^(?:notice of |medical |important )?disclaimer:?$", re.I)
_DISCLAIMER_PARAGRAPH = re.compile(r"^(?:notice of |medical )?disclaimer\s*:", re.I)
# Button texts and calls to action, alone on a line.
_CTA = re.compile(
    r"^(?:(?:book|schedule|request|claim|get|reserve|make)(?:\s+(?:your|a|an|my))?"
    r"(?:\s+free|\s+new\s+patient)?"
    r"(?:\s+(?:consultation|consult|appointment|visit|exam|evaluation|spot))?"
    r"(?:\s+(?:now|today|online|here))?"
    r"|free\s+(?:consultation|consult|evaluation)(?:\s+(?:now|today))?"
    r"|(?:call|contact\s+us|call\s+us)(?:\s+(?:now|today))?"
    r"|learn\s+more|read\s+more|click\s+here|get\s+started|subscribe(?:\s+now)?"
    r"|back\s+to\s+(?:blog|top)|all\s+posts|share\s+this\s+(?:post|article))$",
    re.IGNORECASE,
)
_BULLET = re.compile(r"^(?:[•◦▪▫‣⁃●○■□►▶➤→·*]|[-–—](?=\s))\s*")
_NUMBER = re.compile(r"^(?:(\d{1,2})[.)]|\((\d{1,2})\))\s+")
_CLOSING = "\"')]}»"
_SMALL_WORDS = frozenset(
    {
        *("a", "an", "and", "as", "at", "but", "by", "for", "from", "in", "into", "nor", "of"),
        *("off", "on", "or", "per", "the", "to", "up", "via", "vs", "with", "your", "is"),
        *("are", "can", "does", "do", "how", "why", "what", "when"),
    }
)


@dataclass(frozen=True)
class _Raw:
    text: str
    indent: int  # columns of white space before it in the export


@dataclass
class _Line:
    text: str
    kind: str  # "para", "short", "item"
    ordered: bool = False
    indent: int = 0
    number: int = 0  # a numbered item's number as written


def parse_page_export(text: str, *, name: str = "") -> Article:
    """An Article from a page export's text. ``name`` (a path) gives a title if none is found."""
    lines = [
        _Raw(line, indentation(raw))
        for line, raw in zip(normalize_lines(text), split_lines(text), strict=True)
        if line
    ]
    lines = _drop_footer(lines)
    lines = [line for line in lines if not _is_furniture(line.text)]
    lines = _drop_disclaimer(lines)
    lines = [line for line in lines if not _is_cta(line.text)]
    title, lines = _take_title(lines, name)
    classified = _trim_tail([_classify(line) for line in lines])
    return Article(title=title, sections=_sections(classified), source=name)


def _is_furniture(line: str) -> bool:
    return any(pattern.match(line) for pattern in _FURNITURE)


def _is_cta(line: str) -> bool:
    return len(line) <= CTA_MAX_CHARS and _CTA.match(line.rstrip(" !>»→.")) is not None


def _drop_footer(lines: list[_Raw]) -> list[_Raw]:
    for index, line in enumerate(lines):
        if index > 0 and _FOOTER_START.match(line.text):
            return lines[:index]
    return lines


def _drop_disclaimer(lines: list[_Raw]) -> list[_Raw]:
    """The site's own disclaimer: its heading and the paragraph after it."""
    kept: list[_Raw] = []
    skip_next = False
    for line in lines:
        if skip_next:
            skip_next = False
            if not _is_heading_like(line.text):
                continue
        if _DISCLAIMER_HEADING.match(line.text):
            skip_next = True
            continue
        if _DISCLAIMER_PARAGRAPH.match(line.text):
            continue
        kept.append(line)
    return kept


def _take_title(lines: list[_Raw], name: str) -> tuple[str, list[_Raw]]:
    """The first line if it reads as a title; the title repeated before the text goes too."""
    fallback = _title_from_name(name)
    if not lines:
        return fallback, lines
    first = lines[0].text
    if len(first) > TITLE_MAX_CHARS or first.endswith((".", ",", ";", ":")):
        return fallback, lines
    rest = lines[1:]
    while rest and rest[0].text.casefold() == first.casefold():
        rest = rest[1:]
    return first, rest


def _title_from_name(name: str) -> str:
    stem = Path(name).stem if name else ""
    words = re.sub(r"[-_]+", " ", stem).strip()
    return words[:1].upper() + words[1:] if words else "Untitled article"


def _classify(raw: _Raw) -> _Line:
    line, indent = raw.text, raw.indent
    if match := _NUMBER.match(line):
        number = int(match[1] or match[2])
        return _Line(line[match.end() :], "item", ordered=True, indent=indent, number=number)
    if (match := _BULLET.match(line)) and line[match.end() :]:
        return _Line(line[match.end() :], "item", indent=indent)
    emoji = _emoji_prefix(line)
    if emoji:
        return _Line(line[emoji:].strip(), "item", indent=indent)
    return _Line(line, "short" if _is_heading_like(line) else "para", indent=indent)


def _emoji_prefix(line: str) -> int:
    """Length of a leading emoji bullet (✅, 👉, ✔️...) and its space, or 0."""
    index = 0
    while index < len(line) and (
        unicodedata.category(line[index]) == "So" or line[index] in "\ufe0f\u200d"
    ):
        index += 1
    if index and index < len(line) and line[index] == " ":
        return index + 1
    return 0


def _is_heading_like(line: str) -> bool:
    if len(line) > HEADING_MAX_CHARS or len(line.split()) > HEADING_MAX_WORDS:
        return False
    first_letter = next((char for char in line if char.isalpha()), "")
    if first_letter.islower():
        return False
    last = line.rstrip(_CLOSING)[-1:]
    if last == "?":
        return _is_title_case(line)  # "Is Your Pillow the Problem?" yes, "Do you snore?" no
    return last not in ".!:;,…"


def _is_title_case(line: str) -> bool:
    words = [w for w in re.findall(r"[A-Za-z][\w']*", line) if w.lower() not in _SMALL_WORDS]
    return bool(words) and sum(w[0].isupper() for w in words) >= max(2, len(words) * 0.75)


def _trim_tail(lines: list[_Line]) -> list[_Line]:
    """Short lines after the last text (buttons, repeated calls to action) are not the article."""
    counts: dict[str, int] = {}
    for line in lines:
        counts[line.text.casefold()] = counts.get(line.text.casefold(), 0) + 1
    end = len(lines)
    while end > 0:
        line = lines[end - 1]
        repeated = counts[line.text.casefold()] > 1 and len(line.text) <= CTA_MAX_CHARS
        if line.kind == "short" or (line.kind == "para" and repeated):
            end -= 1
            continue
        break
    return lines[:end]


def _sections(lines: list[_Line]) -> list[Section]:
    sections = [Section(heading=None)]
    index = 0
    while index < len(lines):
        line = lines[index]
        blocks: list[Block] = sections[-1].blocks
        if line.kind == "item":
            block, index = _list_at(lines, index)
            blocks.append(block)
            continue
        if line.kind == "para":
            blocks.append(Paragraph(line.text))
            index += 1
            if line.text.endswith(":"):
                run = _short_run(lines, index)
                if len(run) >= 2:
                    blocks.append(ListBlock(items=[item.text for item in run]))
                    index += len(run)
            continue
        following = lines[index + 1] if index + 1 < len(lines) else None
        if following is None or following.kind != "short" or not _reads_as_sentence(line.text):
            level = _heading_level(line.text, sections)
            sections.append(Section(heading=line.text, level=level))
        # else: a sentence with no closing mark just before a heading is an image's caption
        index += 1
    return [section for section in sections if section.heading or section.blocks]


def _heading_level(heading: str, sections: list[Section]) -> int:
    """1, or 2 for a sentence-case heading under a Title Case one ("Pinched nerves" under
    "Common Causes of Leg Pain"). A one-word heading says nothing: it keeps the level before."""
    previous = next((s for s in reversed(sections) if s.heading), None)
    if previous is None:
        return 1
    if len(re.findall(r"[A-Za-z][\w']*", heading)) < 2:
        return previous.level
    if _is_title_case(heading):
        return 1
    parent = next((s for s in reversed(sections) if s.heading and s.level == 1), None)
    return 2 if parent is not None and _is_title_case(parent.heading or "") else 1


def _list_at(lines: list[_Line], start: int) -> tuple[ListBlock, int]:
    """The list that starts at ``lines[start]``, and the index after it.

    Items of the other kind (bullets after a numbered step) or written deeper nest under the
    item before them when they are indented more than it, when the list goes on after them, or
    when earlier items had such lists too (the last step's bullets, written flush left);
    otherwise they are a list of their own and this one ends. A numbered list goes on only with
    the next number: "1." again starts a new list.
    """
    first = lines[start]
    block = ListBlock(items=[], ordered=first.ordered, start=first.number or 1)
    index = start
    while index < len(lines) and (index == start or _continues(block, first, lines[index])):
        block.items.append(lines[index].text)
        index += 1
        end = index
        while end < len(lines) and _nests_under(first, lines[end]):
            end += 1
        if end == index:
            continue
        run = lines[index:end]
        deeper = min(line.indent for line in run) > first.indent
        goes_on = end < len(lines) and _continues(block, first, lines[end])
        if not (deeper or goes_on or block.nested):  # block.nested: the steps have bullets
            break  # a list of its own after this one
        block.nested[len(block.items) - 1] = ListBlock(
            items=[line.text for line in run], ordered=run[0].ordered, start=run[0].number or 1
        )
        index = end
    if not block.ordered:
        block.start = 1
    return block, index


def _continues(block: ListBlock, first: _Line, line: _Line) -> bool:
    """``line`` is the next item of ``block`` (same kind, same depth, the next number)."""
    if line.kind != "item" or line.ordered != first.ordered or line.indent > first.indent + 1:
        return False
    return not block.ordered or line.number == block.start + len(block.items)


def _nests_under(first: _Line, line: _Line) -> bool:
    """``line`` may belong under an item of the list ``first`` starts."""
    return line.kind == "item" and (line.ordered != first.ordered or line.indent > first.indent + 1)


def _short_run(lines: list[_Line], start: int) -> list[_Line]:
    """Short lines (phrases or questions, not sentences ending in a period) in a row."""
    end = start
    while end < len(lines) and _list_like(lines[end]):
        end += 1
    return lines[start:end]


def _list_like(line: _Line) -> bool:
    if line.kind == "short":
        return True
    text = line.text
    return line.kind == "para" and len(text) <= HEADING_MAX_CHARS and text.endswith("?")


def _reads_as_sentence(text: str) -> bool:
    return len(text.split()) >= 6 and not _is_title_case(text)
