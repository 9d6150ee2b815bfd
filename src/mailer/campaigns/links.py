"""The links of one campaign: UTM parameters for the clinic's own site, place names, tracking.

Every link rendered into a newsletter goes through a :class:`LinkRegistry`. It numbers the
links (the index in ``/c/{token}.{index}``), remembers where each sits (``utm_content``: cta-top,
cta-bottom, read-more, a slug of the link text, or link-N) and gives the href to write: the
tracked ``/c/`` address, or with ``tracking.clicks = false`` the destination itself.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote_plus, urlencode, urlsplit, urlunsplit

UTM_SOURCE = "newsletter"
UTM_MEDIUM = "email"
CLICK_PLACEHOLDER = "%%click%%"  # the recipient's signed click token, filled per recipient

_UTM_FIXED = (
    f"utm_source={quote_plus(UTM_SOURCE)}&utm_medium={quote_plus(UTM_MEDIUM)}&utm_campaign="
)
# Second-level labels under which registrations happen (a short list, not the Public Suffix
# List): www.clinic.co.uk and book.clinic.co.uk share "clinic.co.uk".
_SECOND_LEVEL = {"co", "com", "org", "net", "ac", "gov", "edu"}


def registrable_host(url: str) -> str:
    """``www.summitspine.example`` -> ``summitspine.example`` (approximate eTLD+1)."""
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    labels = host.split(".")
    if len(labels) >= 3 and labels[-2] in _SECOND_LEVEL and len(labels[-1]) == 2:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def slugify(text: str, max_length: int = 40) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:max_length].rstrip("-")


def place_for_text(text: str) -> str:
    """The place name of a button or link from its text: read-more, or a slug ('' if none)."""
    if text.strip().lower().startswith("read"):
        return "read-more"
    return slugify(text)


def with_utm(url: str, campaign: str, content: str) -> str:
    """Add utm_* to ``url``, keeping its other query parameters and fragment."""
    parts = urlsplit(url)
    if not parts.query:
        # The usual link has no query: the urlencode below, written out (a fifth of a
        # compile's link work was parse_qsl and eight quote_plus calls).
        query = _UTM_FIXED + quote_plus(campaign) + "&utm_content=" + quote_plus(content)
        return urlunsplit(parts._replace(path=parts.path or "/", query=query))
    kept = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k not in {"utm_source", "utm_medium", "utm_campaign", "utm_content"}
    ]
    kept += [
        ("utm_source", UTM_SOURCE),
        ("utm_medium", UTM_MEDIUM),
        ("utm_campaign", campaign),
        ("utm_content", content),
    ]
    return urlunsplit(parts._replace(path=parts.path or "/", query=urlencode(kept)))


@dataclass(frozen=True)
class Link:
    index: int
    url: str  # the destination as sent (UTM included for the clinic's own site)
    place: str
    text: str = ""


@dataclass
class LinkRegistry:
    campaign: str
    own_hosts: set[str]
    base_url: str
    track_clicks: bool = True
    links: list[Link] = field(default_factory=list)
    _by_key: dict[tuple[str, str], Link] = field(default_factory=dict)

    @classmethod
    def for_site(
        cls, campaign: str, sites: list[str], base_url: str, track_clicks: bool
    ) -> LinkRegistry:
        hosts = {registrable_host(site) for site in sites if site}
        return cls(campaign, hosts - {""}, base_url.rstrip("/"), track_clicks)

    def is_own(self, url: str) -> bool:
        return registrable_host(url) in self.own_hosts

    def href(self, url: str, place: str = "", text: str = "") -> str:
        """The href to write for a link to ``url`` at ``place`` (derived from text if empty).

        http(s) links are registered and tracked; anything else (mailto:, tel:, and the bad
        schemes `mailer check` reports) is returned unchanged.
        """
        url = url.strip()
        if not re.match(r"^https?://", url, re.IGNORECASE):
            return url
        place = place or place_for_text(text) or f"link-{len(self.links) + 1}"
        destination = with_utm(url, self.campaign, place) if self.is_own(url) else url
        link = self._by_key.get((destination, place))
        if link is None:
            link = Link(len(self.links), destination, place, text.strip())
            self.links.append(link)
            self._by_key[(destination, place)] = link
        if not self.track_clicks:
            return link.url
        return f"{self.base_url}/c/{CLICK_PLACEHOLDER}.{link.index}"
