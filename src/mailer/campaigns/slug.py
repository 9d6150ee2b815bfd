"""Campaign slugs from titles: ascii and hyphens (the file that gets one: CampaignFiles.reserve)."""

from __future__ import annotations

import re
import unicodedata

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
