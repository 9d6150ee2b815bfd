"""The campaign file, campaigns/<slug>.md: YAML front matter and a Markdown body staff edit.

Send state lives in the database, never only here.

Staff type into the front matter by hand, so it is written with every text value in double
quotes (a colon or a "#" in a subject then stays text), and ``subject:`` and ``preheader:`` are
read as typed even without quotes: "subject: Leg pain? It starts in your neck: here is why"
is that subject, not a YAML error. Any other YAML mistake is an error naming the file's line.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import frontmatter
import yaml

from mailer.config import parse_duration
from mailer.errors import CampaignError
from mailer.states import CampaignStatus
from mailer.subscribers.segments import Audience

STATUSES = tuple(CampaignStatus)
# Front matter that records what happened to the campaign, not what goes out: an approval's
# fingerprint leaves these out (mailer.campaigns.approval), so writing them keeps it valid.
STATUS_KEYS = ("status", "approved_at", "approved_by", "sent_at")
# Front matter keys whose value is plain text, read as typed (see the module docstring).
_TEXT_KEYS = ("subject", "preheader")
_TEXT_LINE = re.compile(rf"^(?P<key>{'|'.join(_TEXT_KEYS)}):[ \t]+(?P<value>[^\s\"'|>].*)$")
_BOUNDARY = re.compile(r"^-{3,}\s*$")
# A series name (``sequence: welcome``): it names the series on the command line.
SERIES_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,49}$")


@dataclass
class ArticleRef:
    title: str
    url: str = ""


@dataclass
class Campaign:
    slug: str
    subject: str
    body: str
    preheader: str = ""
    status: CampaignStatus = CampaignStatus.DRAFT
    articles: list[ArticleRef] = field(default_factory=list)
    cta: dict[str, str] = field(default_factory=dict)  # text, url (defaults from booking.*)
    send_on: date | None = None
    audience: Audience = field(default_factory=Audience)
    extra: dict[str, Any] = field(default_factory=dict)  # unknown front matter, kept as is
    path: Path | None = None

    @property
    def sequence(self) -> str:
        """The series this campaign is a step of (``sequence: welcome``), '' for an issue.

        ``sequence`` and ``after`` stay in ``extra`` as typed, so the file and its approval's
        fingerprint are unchanged by reading them; ``parse_campaign`` has validated both."""
        return str(self.extra.get("sequence") or "")

    @property
    def after(self) -> timedelta:
        """How long after a person joined the series this step is due (``after: 3d``)."""
        value = self.extra.get("after")
        return parse_duration(str(value)) if value not in (None, "") else timedelta(0)

    def front_matter(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "subject": self.subject,
            "preheader": self.preheader,
            "status": self.status,
            "articles": [{"title": a.title, "url": a.url} for a in self.articles],
        }
        if self.cta:
            data["cta"] = dict(self.cta)
        if self.send_on:
            data["send_on"] = self.send_on
        if self.audience.any_of or self.audience.none_of:
            data["audience"] = {"tags": self.audience.any_of, "exclude_tags": self.audience.none_of}
        data.update(self.extra)
        return data


def _stamp(when: datetime | None) -> str:
    moment = (when or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    return moment.isoformat().replace("+00:00", "Z")


def mark_approved(campaign: Campaign, now: datetime | None = None, by: str = "") -> None:
    """status: approved, with approved_at (and approved_by), for people reading the file.

    This is the file's side only: mailer.campaigns.approval records the approval that counts.
    """
    campaign.status = CampaignStatus.APPROVED
    campaign.extra["approved_at"] = _stamp(now)
    if by:
        campaign.extra["approved_by"] = by


def mark_draft(campaign: Campaign) -> None:
    """Back to status: draft; the approval fields go (the database keeps the history)."""
    campaign.status = CampaignStatus.DRAFT
    campaign.extra.pop("approved_at", None)
    campaign.extra.pop("approved_by", None)


def mark_sent(campaign: Campaign, when: datetime | None = None) -> None:
    """status: sent, with sent_at: the send finished; approval fields stay as a record."""
    campaign.status = CampaignStatus.SENT
    campaign.extra["sent_at"] = _stamp(when)


def load_campaign(path: Path) -> Campaign:
    """Read a campaign file. Raises CampaignError naming the file, and the line and key when the
    front matter is at fault (never anything else: one bad file must not stop a slot)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise CampaignError(f"{path}: cannot be read ({err})") from err
    return parse_campaign(text, path)


def parse_campaign(text: str, path: Path) -> Campaign:
    """The campaign ``text`` holds, as if read from ``path`` (its slug is the file name's stem;
    errors name ``path``). Raises CampaignError as :func:`load_campaign` does."""
    try:
        post = frontmatter.loads(_text_values_as_typed(text))
    except yaml.MarkedYAMLError as err:
        offset = _leading_lines(text)
        mark = err.problem_mark or err.context_mark
        where = f"{path}:{mark.line + 1 + offset}" if mark else str(path)
        context = (
            f" ({err.context} on line {err.context_mark.line + 1 + offset})"
            if err.context and err.context_mark and err.context_mark is not mark
            else ""
        )
        raise CampaignError(
            f"{where}: the front matter between the --- lines is not valid YAML: "
            f"{err.problem or err}{context}",
            hint='put the value on that line in double quotes, e.g. subject: "Neck pain: '
            'why it starts" (a colon, # or quote in a value needs them)',
        ) from err
    except (yaml.YAMLError, ValueError, TypeError, OverflowError) as err:
        # A value YAML reads but cannot build, e.g. send_on: 2026-13-45 (no 13th month).
        key, line = _unbuildable_key(text)
        where = f"{path}:{line}" if line else str(path)
        raise CampaignError(
            f"{where}: {key or 'front matter'}: not a valid value ({err})",
            hint="write dates as YYYY-MM-DD (e.g. 2026-11-24) and check that line",
        ) from err

    def at(key: str) -> str:
        """file:line of a front matter key, for an error (composing the YAML again costs as
        much as loading it, so only then)."""
        line = _key_lines(text).get(key)
        return f"{path}:{line}" if line else str(path)

    meta: dict[str, Any] = dict(post.metadata)
    key = ""
    try:
        key = "status"
        status = str(meta.pop("status", "draft"))
        if status not in STATUSES:
            raise CampaignError(
                f"{at(key)}: status: {status!r} is not one of {', '.join(STATUSES)}",
                hint="set status: draft, then `mailer approve` the campaign when it is ready",
            )
        key = "articles"
        articles = [
            ArticleRef(title=str(item.get("title", "")), url=str(item.get("url") or ""))
            for item in meta.pop("articles", None) or []
        ]
        key = "audience"
        audience_raw = meta.pop("audience", None) or {}
        audience = Audience(
            any_of=[str(t) for t in audience_raw.get("tags", []) or []],
            none_of=[str(t) for t in audience_raw.get("exclude_tags", []) or []],
        )
        key = "send_on"
        send_on = _send_on(meta.pop("send_on", None))
        key = "cta"
        cta = {str(k): str(v) for k, v in (meta.pop("cta", None) or {}).items()}
    except (AttributeError, TypeError, ValueError) as err:
        raise CampaignError(
            f"{at(key)}: {key}: unexpected value ({err})",
            hint="write the date as YYYY-MM-DD, e.g. send_on: 2026-11-24"
            if key == "send_on"
            else "compare with the same lines in a campaign drafted by `mailer draft`",
        ) from err
    _check_series(meta, at)
    return Campaign(
        slug=path.stem,
        subject=str(meta.pop("subject", "") or ""),
        preheader=str(meta.pop("preheader", "") or ""),
        status=CampaignStatus(status),
        articles=articles,
        cta=cta,
        send_on=send_on,
        audience=audience,
        body=post.content,
        extra=meta,
        path=path,
    )


def _check_series(meta: dict[str, Any], at: Callable[[str], str]) -> None:
    """``sequence:`` a series name and ``after:`` a duration, together or not at all."""
    sequence, after = meta.get("sequence"), meta.get("after")
    if sequence is None and after is None:
        return
    if sequence is None:
        raise CampaignError(
            f"{at('after')}: after: is only for a step of a series, and there is no sequence:",
            hint="add the series, e.g. sequence: welcome, or remove the after: line",
        )
    if not isinstance(sequence, str) or not SERIES_NAME.match(sequence):
        raise CampaignError(
            f"{at('sequence')}: sequence: {sequence!r} is not a series name",
            hint="lower-case letters, digits and dashes, e.g. sequence: welcome",
        )
    if after is None:
        raise CampaignError(
            f"{at('sequence')}: a step of the {sequence!r} series needs after: (when it is due)",
            hint='add e.g. after: 3d (how long after joining; "0s" for at once, "90m", "1w")',
        )
    try:
        parse_duration(str(after))
    except ValueError as err:
        raise CampaignError(
            f"{at('after')}: after: {after!r} is not a duration",
            hint=f"write {err}, after the person joined the series",
        ) from err


def _send_on(value: object) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        return date.fromisoformat(value.strip())
    raise TypeError(f"{value!r} is not a date")


def _leading_lines(text: str) -> int:
    """Blank lines before the first ---: python-frontmatter strips them, YAML's marks skip them."""
    return text[: len(text) - len(text.lstrip())].count("\n")


def _front_matter_node(text: str) -> yaml.MappingNode | None:
    try:
        front, _ = frontmatter.YAMLHandler().split(text.strip())
        node = yaml.compose(front, Loader=yaml.SafeLoader)
    except (ValueError, yaml.YAMLError):
        return None
    return node if isinstance(node, yaml.MappingNode) else None


def _key_lines(text: str) -> dict[str, int]:
    """Each top-level front matter key's line in the file (1-based); empty if YAML cannot tell."""
    node = _front_matter_node(text)
    if node is None:
        return {}
    offset = _leading_lines(text)
    return {str(k.value): k.start_mark.line + 1 + offset for k, _ in node.value}


def _unbuildable_key(text: str) -> tuple[str, int | None]:
    """The first top-level key whose value YAML parses but cannot build, with its line."""
    try:
        front, _ = frontmatter.YAMLHandler().split(text.strip())
    except ValueError:
        return "", None
    loader = yaml.SafeLoader(front)
    try:
        node = loader.get_single_node()
        if not isinstance(node, yaml.MappingNode):
            return "", None
        for key_node, value_node in node.value:
            try:
                loader.construct_object(value_node, deep=True)
            except (yaml.YAMLError, ValueError, TypeError, OverflowError):
                line = key_node.start_mark.line + 1 + _leading_lines(text)
                return str(key_node.value), line
    except yaml.YAMLError:
        return "", None
    finally:
        loader.dispose()
    return "", None


def _text_values_as_typed(text: str) -> str:
    """``subject:`` and ``preheader:`` lines without quotes, quoted as typed.

    A plain YAML value may not hold ": " and ends at " #"; staff do not know that, and these two
    are always text. A value that goes on over indented lines (as older drafts were written)
    is joined with spaces, as YAML would.
    """
    lines = text.split("\n")
    start = next((n for n, line in enumerate(lines) if line.strip()), None)
    if start is None or not _BOUNDARY.match(lines[start]):
        return text
    end = next((n for n in range(start + 1, len(lines)) if _BOUNDARY.match(lines[n])), None)
    if end is None:
        return text
    out = lines[: start + 1]
    index = start + 1
    while index < end:
        match = _TEXT_LINE.match(lines[index].rstrip())
        index += 1
        if match is None:
            out.append(lines[index - 1])
            continue
        value = [match["value"].strip()]
        while index < end and lines[index][:1] in (" ", "\t") and lines[index].strip():
            value.append(lines[index].strip())
            index += 1
        out.append(f"{match['key']}: {json.dumps(' '.join(value), ensure_ascii=False)}")
        out.extend([""] * (len(value) - 1))  # later lines keep their numbers for errors
    return "\n".join([*out, *lines[end:]])


class _Quoted(str):
    """A front matter text value, written in double quotes."""


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(
    _Quoted, lambda dumper, value: dumper.represent_scalar("tag:yaml.org,2002:str", value, '"')
)


def _quoted(value: Any) -> Any:
    """Every text value quoted; keys, dates and numbers as they are."""
    if isinstance(value, str):
        return _Quoted(value)
    if isinstance(value, dict):
        return {key: _quoted(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_quoted(item) for item in value]
    return value


def campaign_text(campaign: Campaign) -> str:
    """The file's text for ``campaign``: every text value quoted, one line a value."""
    post = frontmatter.Post(campaign.body, **_quoted(campaign.front_matter()))
    # One line a value (width), so a value is edited in one place.
    return (
        frontmatter.dumps(post, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100_000)
        + "\n"
    )


def save_campaign(campaign: Campaign, path: Path) -> None:
    """Write atomically: a crash never leaves half a campaign file."""
    write_atomically(path, campaign_text(campaign))
    campaign.path = path


def write_atomically(path: Path, text: str) -> None:
    """A temporary file beside ``path``, then os.replace: readers see the old file or the new
    one, never half of it, and a crash leaves at most a stray ``.<name>.*.tmp``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:  # bytes: the file's sha256 is the text's
            handle.write(text.encode("utf-8"))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
