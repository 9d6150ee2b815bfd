"""Reading a subscriber CSV: the file checks, the header mapping and each row's fields.

Nothing here touches the database. A file that cannot be read at all (missing, binary, not UTF-8,
no email column) raises InputError before any row is looked at; a bad row becomes a RowError with
its reason, and the import goes on.

Mailchimp's exports of unsubscribed and cleaned contacts are recognized by their UNSUB_TIME or
CLEAN_TIME column (or their file names): every row of such a file is unsubscribed or bounced,
whatever else it says, so importing one can only take people off the list.

A stray quote (``jane@example.com,"Jane,Doe`` with no closing quote) makes a CSV field run on
over the following lines until the next quote, so those rows would become one person's name and
their addresses would be mailed to that person. A quoted field whose continuation lines hold an
email address, or that runs over more than MAX_FIELD_LINES lines, is taken for one: every
physical line it swallowed is rejected, by number, and reading goes on after it. A quoted field
over a few lines with no address in them (a postal address, a note) is read as usual.
"""

from __future__ import annotations

import codecs
import csv
import functools
import ipaddress
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mailer.errors import InputError
from mailer.states import SubscriberStatus
from mailer.subscribers.normalize import (
    MAX_ATTRIBUTE,
    MAX_ATTRIBUTE_NAME,
    MAX_EMAIL_INPUT,
    MAX_NAME,
    MAX_TAG,
    split_name,
    split_tags,
)

# Header names as people write them, compared after lower-casing and dropping all but [a-z0-9].
ALIASES: dict[str, tuple[str, ...]] = {
    "email": ("email", "emailaddress", "mail", "emailaddr", "mailaddress", "subscriberemail"),
    "first_name": ("firstname", "givenname", "first", "fname", "forename"),
    "last_name": ("lastname", "surname", "familyname", "last", "lname"),
    "name": ("name", "fullname", "contactname"),
    "tags": ("tags", "tag", "labels", "groups"),
    "status": ("status", "subscriberstatus", "subscriptionstatus"),
    "consent_ip": ("ip", "ipaddress", "consentip", "signupip", "optinip"),
    "consent_at": (
        "consentat",
        "consentdate",
        "consenttime",
        "signedup",
        "signupdate",
        "subscribedat",
        "optindate",
        "optintime",
        "optedinat",
        "dateadded",
    ),
    "consent_source": ("consentsource", "source", "signupsource"),
    "ignore": ("id", "createdat", "updatedat"),
}
_BY_ALIAS = {alias: name for name, aliases in ALIASES.items() for alias in aliases}

# Status words from other tools' exports.
STATUS_WORDS = {
    "": SubscriberStatus.ACTIVE,
    "active": SubscriberStatus.ACTIVE,
    "subscribed": SubscriberStatus.ACTIVE,
    "confirmed": SubscriberStatus.ACTIVE,
    "pending": SubscriberStatus.PENDING,
    "unconfirmed": SubscriberStatus.PENDING,
    "unsubscribed": SubscriberStatus.UNSUBSCRIBED,
    "bounced": SubscriberStatus.BOUNCED,
    "cleaned": SubscriberStatus.BOUNCED,
    "complained": SubscriberStatus.COMPLAINED,
}

MAX_FIELD = 10_000_000  # the csv module's own limit, raised so long fields become row rejects
# A quoted field over more lines than this is a stray quote, address or not (a postal address
# takes 3-5, a long note rarely 20).
MAX_FIELD_LINES = 20
# Something that looks like an email address (no validation: only to spot swallowed rows).
_ADDRESS = re.compile(r"[^\s@,;\"'<>]+@[^\s@,;\"'<>]+\.[^\s@,;\"'<>]+")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
# Mailchimp's exports: a column only the unsubscribed / cleaned export has, and its file name.
SUPPRESSING_COLUMNS = {
    "cleantime": SubscriberStatus.BOUNCED,
    "unsubtime": SubscriberStatus.UNSUBSCRIBED,
}
SUPPRESSING_NAMES = {
    "cleaned_members_export": SubscriberStatus.BOUNCED,
    "unsubscribed_members_export": SubscriberStatus.UNSUBSCRIBED,
}
_BLOCK = 1 << 20
_NON_ALNUM = re.compile(r"[^a-z0-9]")
_SAVE_AS = "save it from your spreadsheet as 'CSV UTF-8 (comma delimited)' and import that file"


def header_key(name: str) -> str:
    return _NON_ALNUM.sub("", name.lower())


@dataclass(frozen=True)
class FileFacts:
    lines: int
    size: int


def check_file(path: Path) -> FileFacts:
    """Refuse, before anything is written, a file that is missing, binary, empty or not UTF-8."""
    if not path.exists():
        raise InputError(f"{path} does not exist", hint="check the path of the CSV file")
    if not path.is_file():
        raise InputError(f"{path} is not a file", hint="give the path of a CSV file")
    decoder = codecs.getincrementaldecoder("utf-8")()
    lines = 0
    offset = 0
    seen_text = False
    try:
        with path.open("rb") as stream:
            while block := stream.read(_BLOCK):
                if b"\x00" in block:
                    raise InputError(
                        f"{path} is a binary file, not a CSV (it contains NUL bytes; "
                        "a spreadsheet such as .xlsx perhaps)",
                        hint=_SAVE_AS,
                    )
                try:
                    decoder.decode(block)
                except UnicodeDecodeError as err:
                    bad_line = lines + block.count(b"\n", 0, err.start) + 1
                    raise InputError(
                        f"{path} is not UTF-8 text (undecodable byte at line {bad_line}, "
                        f"byte {offset + err.start + 1})",
                        hint=_SAVE_AS,
                    ) from err
                seen_text = seen_text or bool(block.strip(b" \t\r\n\xef\xbb\xbf"))
                lines += block.count(b"\n")
                offset += len(block)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError as err:
        raise InputError(f"{path} ends in the middle of a character", hint=_SAVE_AS) from err
    except OSError as err:
        raise InputError(f"cannot read {path}: {err.strerror}") from err
    if not seen_text:
        raise InputError(f"{path} is empty", hint="export the list again, with its header row")
    return FileFacts(lines=lines, size=offset)


@dataclass
class Columns:
    """Which column index holds what; -1 when absent."""

    email: int
    first_name: int = -1
    last_name: int = -1
    name: int = -1
    tags: int = -1
    status: int = -1
    consent_ip: int = -1
    consent_at: int = -1
    consent_source: int = -1
    attributes: list[tuple[int, str]] = field(default_factory=list)
    headers: list[str] = field(default_factory=list)
    # Every row of the file has (at least) this status: a Mailchimp unsubscribed or cleaned
    # export; None for an ordinary list.
    suppress_as: SubscriberStatus | None = None

    @classmethod
    def from_header(cls, path: Path, header: list[str]) -> Columns:
        found: dict[str, int] = {}
        attributes: list[tuple[int, str]] = []
        names = [cell.strip().lstrip("\ufeff").strip() for cell in header]
        suppress_as = _suppressing(path, names)
        for index, name in enumerate(names):
            role = _BY_ALIAS.get(header_key(name))
            if role is None or role in found:
                if name:
                    attributes.append((index, name[:MAX_ATTRIBUTE_NAME]))
            elif role != "ignore":
                found[role] = index
        if "email" not in found:
            shown = ", ".join(repr(n) for n in names[:12]) or "nothing"
            raise InputError(
                f"{path} has no email column (its first row has {shown})",
                hint="the first row must name the columns, one of them 'Email' "
                "(or 'E-mail', 'Email Address'); add or rename it and import again",
            )
        return cls(attributes=attributes, headers=names, suppress_as=suppress_as, **found)


def _suppressing(path: Path, names: list[str]) -> SubscriberStatus | None:
    """The status every row of a Mailchimp unsubscribed or cleaned export has, else None."""
    keys = {header_key(name) for name in names}
    for column, status in SUPPRESSING_COLUMNS.items():
        if column in keys:
            return status
    name = path.name.lower()
    for prefix, status in SUPPRESSING_NAMES.items():
        if name.startswith(prefix):
            return status
    return None


@dataclass(slots=True)
class Row:
    line: int
    email: str
    first_name: str
    last_name: str
    tags: list[str]
    attributes: dict[str, Any]
    status: str
    consent_at: datetime | None
    consent_ip: str
    consent_source: str


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    reason: str
    email: str


def _delimiter(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _cell(cells: list[str], index: int) -> str:
    return cells[index].strip() if 0 <= index < len(cells) else ""


@functools.lru_cache(maxsize=4096)
def _split_short_tags(cell: str) -> tuple[str, ...]:
    # A list repeats a few tag cells ("patients;workshop") over and over; the split is pure.
    return tuple(split_tags(cell))


def _split_tags(cell: str) -> list[str]:
    return list(_split_short_tags(cell)) if len(cell) <= 200 else split_tags(cell)


@functools.lru_cache(maxsize=4096)
def _parse_time(value: str) -> datetime | None:
    # A list repeats a few sign-up dates a million times (4 µs a parse at load 10, a quarter
    # of parse_row's time in a re-import's profile); pure, and a datetime is immutable.
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _too_long(line: int, column: str, value: str, limit: int, email: str) -> RowError:
    return RowError(
        line,
        f"field too long: column {column!r} has {len(value):,} characters (at most {limit:,})",
        email[:MAX_EMAIL_INPUT],
    )


def parse_row(columns: Columns, line: int, cells: list[str]) -> Row | RowError:
    """One record as a Row, or why it cannot be imported (the email is checked later)."""
    headers = columns.headers
    width = len(headers)
    if len(cells) > width and any(c.strip() for c in cells[width:]):
        email = _cell(cells, columns.email)
        return RowError(
            line,
            f"{len(cells)} fields but the header has {width} columns "
            "(an unquoted comma inside a value?)",
            email[:MAX_EMAIL_INPUT],
        )
    if len(cells) < width:
        cells = cells + [""] * (width - len(cells))
    # From here every column index (all below width) is in range; -1 means no such column.
    email = cells[columns.email].strip()
    if len(email) > MAX_EMAIL_INPUT:
        return _too_long(line, headers[columns.email], email, MAX_EMAIL_INPUT, "")
    if not email:
        return RowError(line, "missing email", "")
    index = columns.first_name
    first = cells[index].strip() if index >= 0 else ""
    index = columns.last_name
    last = cells[index].strip() if index >= 0 else ""
    index = columns.name
    full = cells[index].strip() if index >= 0 else ""
    if len(first) > MAX_NAME:
        return _too_long(line, headers[columns.first_name], first, MAX_NAME, email)
    if len(last) > MAX_NAME:
        return _too_long(line, headers[columns.last_name], last, MAX_NAME, email)
    if full and not (first or last):
        if len(full) > 2 * MAX_NAME:
            return _too_long(line, headers[columns.name], full, 2 * MAX_NAME, email)
        first, last = split_name(full)
        if max(len(first), len(last)) > MAX_NAME:
            return _too_long(line, headers[columns.name], full, MAX_NAME, email)
    index = columns.tags
    tags_cell = cells[index].strip() if index >= 0 else ""
    tags = _split_tags(tags_cell) if tags_cell else []
    for tag in tags:
        if len(tag) > MAX_TAG:
            return RowError(
                line,
                f"field too long: a tag in column {headers[columns.tags]!r} has {len(tag):,} "
                f"characters (at most {MAX_TAG})",
                email,
            )
    attributes: dict[str, Any] = {}
    for index, name in columns.attributes:
        value = cells[index].strip()
        if not value:
            continue
        if len(value) > MAX_ATTRIBUTE:
            return _too_long(line, name, value, MAX_ATTRIBUTE, email)
        attributes[name] = value
    index = columns.status
    status_word = cells[index].strip().lower() if index >= 0 else ""
    status = STATUS_WORDS.get(status_word)
    if status is None:
        return RowError(
            line,
            f"unknown status {status_word[:40]!r} in column {headers[columns.status]!r} "
            f"(expected one of {', '.join(SubscriberStatus.ALL)})",
            email,
        )
    if columns.suppress_as and status not in SubscriberStatus.SUPPRESSED:
        status = columns.suppress_as
    consent_at = None
    index = columns.consent_at
    if index >= 0 and (at := cells[index].strip()):
        consent_at = _parse_time(at)
        if consent_at is None:
            attributes[headers[index]] = at[:MAX_ATTRIBUTE]
    index = columns.consent_ip
    consent_ip = cells[index].strip() if index >= 0 else ""
    if consent_ip:
        try:
            ipaddress.ip_address(consent_ip)
        except ValueError:
            attributes[headers[index]] = consent_ip[:MAX_ATTRIBUTE]
            consent_ip = ""
    index = columns.consent_source
    source = cells[index].strip()[:100] if index >= 0 else ""
    return Row(line, email, first, last, tags, attributes, status, consent_at, consent_ip, source)


Record = tuple[int, list[str]]  # a record's first physical line and its cells, not yet parsed


def read_rows(path: Path, stream: Any) -> tuple[Columns, Iterator[Row | RowError]]:
    """The header's columns and then each non-blank record, with its first physical line number.

    ``stream`` is the file opened as text with encoding 'utf-8-sig' and newline=''.
    """
    columns, records = read_records(path, stream)

    def rows() -> Iterator[Row | RowError]:
        for item in records:
            yield item if isinstance(item, RowError) else parse_row(columns, *item)

    return columns, rows()


def read_records(path: Path, stream: Any) -> tuple[Columns, Iterator[Record | RowError]]:
    """As read_rows, but each record's cells as read, for parse_row elsewhere (import_triage
    parses in the validation processes); lines a stray quote swallowed are RowErrors here."""
    csv.field_size_limit(max(csv.field_size_limit(), MAX_FIELD))
    first_line = stream.readline()
    lines_before = 1  # physical lines up to and including the header
    while first_line and not first_line.strip():
        first_line = stream.readline()
        lines_before += 1
    delimiter = _delimiter(first_line)
    header_reader = csv.reader([first_line], delimiter=delimiter)
    header = next(header_reader, [])
    columns = Columns.from_header(path, header)

    def records() -> Iterator[Record | RowError]:
        reader = csv.reader(stream, delimiter=delimiter, strict=False)
        end = 0
        while True:
            start = lines_before + end + 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as err:
                if reader.line_num - end > 1:  # a quoted field ran on past MAX_FIELD characters
                    last = lines_before + reader.line_num
                    end = reader.line_num
                    yield from _swallowed(start, last, [""] * (last - start + 1), delimiter)
                    continue
                raise InputError(
                    f"{path}, line {start}: cannot read the CSV here ({err})",
                    hint="the rows before it were imported; fix this line and import again",
                ) from err
            lines = reader.line_num - end
            end = reader.line_num
            if lines > 1 and _stray_quote(cells, lines):
                texts = _LINE_BREAK.split(delimiter.join(cells))
                yield from _swallowed(start, start + lines - 1, texts, delimiter)
                continue
            if not cells or (not cells[0].strip() and not "".join(cells).strip()):
                continue
            yield start, cells

    return columns, records()


def _stray_quote(cells: list[str], lines: int) -> bool:
    """True if a record over ``lines`` physical lines is a stray quote's doing (see above)."""
    if lines > MAX_FIELD_LINES:
        return True
    for cell in cells:
        brk = _LINE_BREAK.search(cell)
        if brk and _ADDRESS.search(cell, brk.end()):
            return True
    return False


def _swallowed(first: int, last: int, texts: list[str], delimiter: str) -> Iterator[RowError]:
    """One reject per physical line from ``first`` to ``last``, each with the address on it
    (the line's text as far as it is known), so staff can see whose rows they are."""
    reason = (
        f"an unclosed quote on line {first} swallowed lines {first}..{last}: close or remove "
        f"that quote and import the file again"
    )
    for line in range(first, last + 1):
        index = line - first
        text = texts[index] if index < len(texts) else ""
        found = _ADDRESS.search(text)
        yield RowError(line, reason, found.group()[:MAX_EMAIL_INPUT] if found else "")
