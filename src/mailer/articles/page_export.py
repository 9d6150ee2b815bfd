"""Page exports: the text of a blog page copied or scraped, one paragraph a line.

The page's furniture goes (top/bottom of page markers, dates, counters, the title repeated,
buttons, the site's disclaimer); what is left is read as a title, headings, paragraphs and lists.

A heading is a short line without closing punctuation that is followed by text. A run of short
lines straight after a line ending in ":" is a list written without bullets. A short line at
the very end, with nothing after it, is a button or call to action, not a heading.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from mailer.articles.model import Article, Block, ListBlock, Paragraph, Section
from mailer.articles.text import normalize_lines

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
_NUMBER = re.compile(r"^(?:\d{1,2}[.)]|\(\d{1,2}\))\s+")
_CLOSING = "\"')]}»"
_SMALL_WORDS = frozenset(
    {
        *("a", "an", "and", "as", "at", "but", "by", "for", "from", "in", "into", "nor", "of"),
        *("off", "on", "or", "per", "the", "to", "up", "via", "vs", "with", "your", "is"),
        *("are", "can", "does", "do", "how", "why", "what", "when"),
    }
)


@dataclass
class _Line:
    text: str
    kind: str  # "para", "short", "item"
    ordered: bool = False


def parse_page_export(text: str, *, name: str = "") -> Article:
    """An Article from a page export's text. ``name`` (a path) gives a title if none is found."""
    lines = [line for line in normalize_lines(text) if line]
    lines = _drop_footer(lines)
    lines = [line for line in lines if not _is_furniture(line)]
    lines = _drop_disclaimer(lines)
    lines = [line for line in lines if not _is_cta(line)]
    title, lines = _take_title(lines, name)
    classified = _trim_tail([_classify(line) for line in lines])
    return Article(title=title, sections=_sections(classified), source=name)


def _is_furniture(line: str) -> bool:
    return any(pattern.match(line) for pattern in _FURNITURE)


def _is_cta(line: str) -> bool:
    return len(line) <= CTA_MAX_CHARS and _CTA.match(line.rstrip(" !>»→.")) is not None


def _drop_footer(lines: list[str]) -> list[str]:
    for index, line in enumerate(lines):
        if index > 0 and _FOOTER_START.match(line):
            return lines[:index]
    return lines


def _drop_disclaimer(lines: list[str]) -> list[str]:
    """The site's own disclaimer: its heading and the paragraph after it."""
    kept: list[str] = []
    skip_next = False
    for line in lines:
        if skip_next:
            skip_next = False
            if not _is_heading_like(line):
                continue
        if _DISCLAIMER_HEADING.match(line):
            skip_next = True
            continue
        if _DISCLAIMER_PARAGRAPH.match(line):
            continue
        kept.append(line)
    return kept


def _take_title(lines: list[str], name: str) -> tuple[str, list[str]]:
    """The first line if it reads as a title; the title repeated before the text goes too."""
    fallback = _title_from_name(name)
    if not lines:
        return fallback, lines
    first = lines[0]
    if len(first) > TITLE_MAX_CHARS or first.endswith((".", ",", ";", ":")):
        return fallback, lines
    rest = lines[1:]
    while rest and rest[0].casefold() == first.casefold():
        rest = rest[1:]
    return first, rest


def _title_from_name(name: str) -> str:
    stem = Path(name).stem if name else ""
    words = re.sub(r"[-_]+", " ", stem).strip()
    return words[:1].upper() + words[1:] if words else "Untitled article"


def _classify(line: str) -> _Line:
    if match := _NUMBER.match(line):
        return _Line(line[match.end() :], "item", ordered=True)
    if (match := _BULLET.match(line)) and line[match.end() :]:
        return _Line(line[match.end() :], "item")
    emoji = _emoji_prefix(line)
    if emoji:
        return _Line(line[emoji:].strip(), "item")
    return _Line(line, "short" if _is_heading_like(line) else "para")


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
            items: list[str] = []
            while (
                index < len(lines)
                and lines[index].kind == "item"
                and lines[index].ordered == line.ordered
            ):
                items.append(lines[index].text)
                index += 1
            blocks.append(ListBlock(items=items, ordered=line.ordered))
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
        if following is not None and following.kind == "short" and _reads_as_sentence(line.text):
            blocks.append(Paragraph(line.text))  # a caption or a one-line remark
        else:
            sections.append(Section(heading=line.text))
        index += 1
    return [section for section in sections if section.heading or section.blocks]


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
