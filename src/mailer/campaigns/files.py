"""The campaign files of a workspace: the one owner of "campaigns/<slug>.md by slug".

Every face (command line, public web, staff web app) and every use case finds, reads and
writes campaign files through :class:`CampaignFiles`; what a file *means* (front matter, body,
errors naming file and line) is :mod:`mailer.campaigns.campaign`'s job.

Invariants:

- A **slug** is a file name in ``campaigns/`` without ``.md``: letters, digits, ``-``, ``_``
  and ``.``, starting with a letter or digit, no ``..``, at most 200 characters. Anything else
  (a ``/``, a ``..``, a leading dot, a NUL) is refused before any file is touched, so a slug
  taken from a URL or a form can never name a file outside ``campaigns/``.
- **Writes are atomic**: a temporary file in the same folder, then ``os.replace``; a reader
  sees the old file or the new one, never half of one.
- **A save that carries a hash never overwrites someone else's save**: :meth:`save_text` with
  ``expected_hash`` compares it with the file's sha256 under a lock on the folder and writes
  nothing (StaleCampaignError) when the file changed since it was read.
- **Only a campaign is written**: :meth:`save_text` parses the text first; a text that is not
  a valid campaign raises the parse error and writes nothing.
"""

from __future__ import annotations

import difflib
import fcntl
import hashlib
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from mailer.campaigns.campaign import (
    Campaign,
    load_campaign,
    parse_campaign,
    save_campaign,
    write_atomically,
)
from mailer.campaigns.slug import slugify
from mailer.errors import CampaignError, CampaignNotFoundError, StaleCampaignError
from mailer.workspace import Workspace

SUFFIX = ".md"
SLUG_MAX = 200
_SLUG = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._-]{{0,{SLUG_MAX - 1}}}")
SLUG_RULE = "letters, digits, '-', '_' and '.', starting with a letter or digit, no '..'"


def is_slug(name: str) -> bool:
    """True when ``name`` may name a campaign file (see the module docstring)."""
    return bool(_SLUG.fullmatch(name)) and ".." not in name


NEAR = 0.8  # likeness from which a slug is offered as "did you mean": one or two typos
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}-")


def _likeness(name: str, slug: str) -> float:
    """difflib's ratio of the two names without a date prefix, lowered by a date that differs."""
    words = difflib.SequenceMatcher(None, _DATE.sub("", name.lower()), _DATE.sub("", slug.lower()))
    date_of_name, date_of_slug = _DATE.match(name), _DATE.match(slug)
    if date_of_name and date_of_slug and date_of_name[0] != date_of_slug[0]:
        return words.ratio() * 0.9
    return words.ratio()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class CampaignText:
    """A campaign file as it is on disk, with the hash a later save must present."""

    slug: str
    path: Path
    text: str
    content_hash: str  # sha256 hex of the file's bytes


class CampaignFiles:
    """``campaigns/<slug>.md`` of one workspace (or any folder of campaign files)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @classmethod
    def of(cls, workspace: Workspace) -> CampaignFiles:
        return cls(workspace.campaigns_dir)

    # -- names ---------------------------------------------------------------------------------

    def path(self, slug: str) -> Path:
        """``<dir>/<slug>.md``; CampaignNotFoundError for a name that is not a slug."""
        if not is_slug(slug):
            shown = slug if len(slug) <= 80 else slug[:77] + "..."
            raise CampaignNotFoundError(
                f"{shown!r} is not a campaign name",
                hint=f"a campaign is named by its file in {self.directory} without {SUFFIX}: "
                f"{SLUG_RULE}",
            )
        return self.directory / f"{slug}{SUFFIX}"

    @staticmethod
    def slug_of(name: str) -> str:
        """The slug CAMPAIGN names, file or not (a sent campaign's file may be gone):
        ``campaigns/x.md``, ``x.md`` and ``x`` are all ``x``."""
        return Path(name.removesuffix(SUFFIX)).name

    def find(self, slug: str) -> Path | None:
        """The file of ``slug`` if the slug is valid and the file exists, else None."""
        if not is_slug(slug):
            return None
        path = self.path(slug)
        return path if path.is_file() else None

    def resolve(self, name: str, *, prefix: bool = False) -> Path:
        """CAMPAIGN as staff type it: a slug, ``slug.md``, or a path to a campaign file; with
        ``prefix``, also any unique beginning of a slug, with or without its date (slugs run to
        70 characters).

        Prefixes are for what a person types (the command line); a face that takes the name
        from a link or a form passes ``prefix=False``, so a link never acts on another file.
        CampaignNotFoundError names the folder and the nearest slugs when there is no such file,
        and lists the slugs when a prefix names several.
        """
        candidate = Path(name)
        if candidate.suffix == SUFFIX and candidate.is_file():
            return candidate
        slug = name.removesuffix(SUFFIX)
        found = self.find(slug)
        if found is not None:
            return found
        if prefix and is_slug(slug):
            # The beginning of the slug, or of its words after the date every draft starts
            # with ("why-headaches" for 2026-12-01-why-headaches-...): what people remember.
            starting = [
                s for s in self.slugs() if s.startswith(slug) or _DATE.sub("", s).startswith(slug)
            ]
            if len(starting) == 1:
                return self.path(starting[0])
            if starting:
                raise CampaignNotFoundError(
                    f"{name!r} is the beginning of {len(starting)} campaigns: "
                    + ", ".join(starting),
                    hint="type more of the name, enough for one campaign only",
                )
        raise CampaignNotFoundError(
            f"no campaign {name!r}: neither a file nor a slug in {self.directory}",
            hint=self._nearest_hint(slug),
        )

    def nearest(self, name: str, limit: int = 3) -> list[str]:
        """The slugs most like ``name``: those containing it (newest first), then the ones that
        differ by a typo. Drafts share their date prefix, so it is compared apart: otherwise
        every slug of the same month looks "near" (2026-03-10-neck ~ 2026-03-10-spring: 0.75)."""
        slugs = self.slugs()
        lowered = name.lower()
        containing = sorted((s for s in slugs if lowered and lowered in s.lower()), reverse=True)
        scored = sorted(((_likeness(name, s), s) for s in slugs), reverse=True)
        similar = [slug for score, slug in scored if score >= NEAR]
        return list(dict.fromkeys([*containing, *similar]))[:limit]

    def _nearest_hint(self, name: str) -> str:
        near = self.nearest(name)
        if near:
            return "did you mean " + " or ".join(f"`{slug}`" for slug in near) + "?"
        if self.slugs():
            return f"list them with `ls {self.directory}`, or draft one with `mailer draft ARTICLE`"
        return "there are no campaigns yet: draft one with `mailer draft ARTICLE`"

    # -- reading -------------------------------------------------------------------------------

    def slugs(self) -> list[str]:
        """Every campaign file's slug, sorted (files whose name is no slug: :meth:`misnamed`)."""
        return sorted(path.stem for path in self._files() if is_slug(path.stem))

    def drafts_of(self, title: str) -> list[str]:
        """The slugs :meth:`reserve` gave drafts of ``title`` on any day, oldest first:
        ``<date>-<title's slug>`` and its ``-2``, ``-3``..."""
        shape = re.compile(rf"\d{{4}}-\d{{2}}-\d{{2}}-{re.escape(slugify(title))}(-(\d+))?")
        found = []
        for slug in self.slugs():
            if match := shape.fullmatch(slug):
                found.append((slug[:10], int(match.group(2) or 1), slug))  # day, then number
        return [slug for _, _, slug in sorted(found)]

    def misnamed(self) -> list[Path]:
        """``*.md`` files in the folder whose name is not a slug: never loaded nor sent."""
        return sorted(path for path in self._files() if not is_slug(path.stem))

    def _files(self) -> Iterator[Path]:
        if not self.directory.is_dir():
            return iter(())
        return (path for path in self.directory.glob(f"*{SUFFIX}") if path.is_file())

    def load(self, name: str, *, prefix: bool = False) -> Campaign:
        """:meth:`resolve`, then parse: CampaignError naming the file (and line) if malformed."""
        return load_campaign(self.resolve(name, prefix=prefix))

    def all(self) -> list[Campaign]:
        """Every campaign, by slug; the first file that cannot be read raises its error."""
        loaded = []
        for _, campaign in self.scan():
            if isinstance(campaign, CampaignError):
                raise campaign
            loaded.append(campaign)
        return loaded

    def scan(self) -> list[tuple[Path, Campaign | CampaignError]]:
        """Every ``*.md`` file by name, with its campaign or the error that keeps it from
        counting (a misnamed file is an error too): for callers that go on past a bad file."""
        found: list[tuple[Path, Campaign | CampaignError]] = []
        for path in sorted(self._files()):
            if not is_slug(path.stem):
                found.append((path, self._misnamed_error(path)))
                continue
            try:
                found.append((path, load_campaign(path)))
            except CampaignError as err:
                found.append((path, err))
        return found

    def _misnamed_error(self, path: Path) -> CampaignError:
        better = slugify(path.stem, max_length=SLUG_MAX)
        return CampaignError(
            f"{path}: {path.name!r} is not a campaign name ({SLUG_RULE})",
            hint=f"rename it, e.g. to {better}{SUFFIX}",
        )

    def read(self, slug: str) -> CampaignText:
        """The file's text and hash; CampaignNotFoundError if there is none."""
        path = self.path(slug)
        try:
            data = path.read_bytes()
        except FileNotFoundError as err:
            raise CampaignNotFoundError(
                f"no campaign {slug!r} in {self.directory}", hint=self._nearest_hint(slug)
            ) from err
        except OSError as err:
            raise CampaignError(f"{path}: cannot be read ({err})") from err
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as err:
            raise CampaignError(
                f"{path}: not UTF-8 text ({err})", hint="save the file as UTF-8 in your editor"
            ) from err
        return CampaignText(slug, path, text, sha256_hex(data))

    def content_hash(self, slug: str) -> str | None:
        """sha256 hex of the file's bytes; None when there is no such file."""
        path = self.find(slug)
        try:
            return sha256_hex(path.read_bytes()) if path is not None else None
        except FileNotFoundError:
            return None

    # -- writing -------------------------------------------------------------------------------

    def save_text(self, slug: str, text: str, *, expected_hash: str | None) -> CampaignText:
        """Write ``text`` as the campaign ``slug``, atomically.

        The text must parse as a campaign (else its CampaignError, nothing written). With
        ``expected_hash`` (the hash :meth:`read` gave), StaleCampaignError and nothing written
        when the file is no longer that; None writes whatever is there (or creates the file).
        """
        path = self.path(slug)
        parse_campaign(text, path)
        data = text.encode("utf-8")
        with self._locked():
            if expected_hash is not None:
                current = self.content_hash(slug)
                if current != expected_hash:
                    what = "was deleted" if current is None else "changed"
                    raise StaleCampaignError(
                        f"{path}: the file {what} since you opened it; nothing was saved",
                        hint="the file changed since you opened it: reload it, then make your "
                        "edit again",
                    )
            write_atomically(path, text)
        return CampaignText(slug, path, text, sha256_hex(data))

    def save(self, campaign: Campaign) -> None:
        """Write ``campaign`` to its slug's file, atomically (``campaign.path`` is set)."""
        path = self.path(campaign.slug)
        with self._locked():
            save_campaign(campaign, path)

    def reserve(self, title: str, day: date) -> Path:
        """A new, empty ``<date>-<title>[-N].md``, claimed so no other draft takes it.

        The file is created exclusively: two drafts run at once still get two names, and an
        existing campaign is never overwritten. The caller replaces it with the real content.
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        base = f"{day.isoformat()}-{slugify(title)}"
        number = 1
        while True:
            path = self.path(base if number == 1 else f"{base}-{number}")
            try:
                os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
            except FileExistsError:
                number += 1
                continue
            return path

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """An exclusive lock on the folder (flock on its descriptor: nothing left on disk),
        so a hash check and the write after it are one step for every process saving here."""
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock
