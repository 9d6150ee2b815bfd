"""Campaign slugs: the date and the title, ascii and hyphens, never reusing an existing file."""

from __future__ import annotations

import os
import re
import unicodedata
from datetime import date
from pathlib import Path

SLUG_TITLE_MAX = 60
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def slugify(title: str, max_length: int = SLUG_TITLE_MAX) -> str:
    """'Why Headaches Start in the Neck' -> 'why-headaches-start-in-the-neck'."""
    ascii_text = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode("ascii")
    # "Don't" -> "dont", not "don-t"
    ascii_text = re.sub(r"(?<=\w)['’](?=\w)", "", ascii_text.replace("’", "'")).lower()
    slug = _NOT_SLUG.sub("-", ascii_text).strip("-")
    if len(slug) > max_length:
        cut = slug[: max_length + 1].rfind("-")
        slug = slug[:cut] if cut > 0 else slug[:max_length]
    return slug.strip("-") or "newsletter"


def reserve_campaign_path(campaigns_dir: Path, title: str, day: date) -> Path:
    """A new, empty ``campaigns/<date>-<title>[-N].md``, claimed so no other draft takes it.

    The file is created exclusively: two drafts run at once still get two names, and an
    existing campaign is never overwritten. The caller replaces it with the real content.
    """
    campaigns_dir.mkdir(parents=True, exist_ok=True)
    base = f"{day.isoformat()}-{slugify(title)}"
    number = 1
    while True:
        slug = base if number == 1 else f"{base}-{number}"
        path = campaigns_dir / f"{slug}.md"
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        except FileExistsError:
            number += 1
            continue
        return path
