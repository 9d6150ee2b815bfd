"""Click references: the signed tag the ``/c/`` redirect adds to a booking link.

When a subscriber follows a booking link (a call to action, cta-*, or any link to the
configured booking page) the redirect goes to the link as sent plus ``utm_term=<ref>``. The
booking tool keeps the booking page's utm_* parameters (Calendly in the invitee's ``tracking``)
and passes them back in its webhook, so the booking names the exact subscriber, campaign run and
link (hence the place: cta-top, cta-bottom...). utm_content keeps the place as sent, for the
clinic's own web statistics. For cal.com pages, whose webhook carries the link's
``metadata[...]`` parameters, the reference also goes in ``metadata[utm_term]`` (with the
campaign and place).

A reference is a token of mailer.tokens (kind "b", MAILER_SECRET_KEY, 16-byte MAC): the
subscriber id plus "<run id>.<link index>", 32 characters. It cannot be forged into someone
else's attribution without the key; it carries no address. Making one costs one HMAC (a few
µs) and the redirect's address is a cached template filled by ``str.replace``: the click
redirect writes nothing more and gets no slower (docs/benchmarks.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from mailer.errors import TokenError
from mailer.tokens import SecretKey, make_token, read_token

KIND_BOOKING_REF = "b"
REF_PARAM = "utm_term"
# As mailer.campaigns.links writes them (not imported: campaigns -> delivery -> bookings).
UTM_SOURCE = "newsletter"
UTM_MEDIUM = "email"
_FILL = "\x00"  # stands for the reference in a cached template; never in a usable URL
_CALCOM_HOSTS = ("cal.com", "cal.eu")


@dataclass(frozen=True)
class Ref:
    subscriber_id: int
    run_id: int
    link_index: int


def make_ref(key: SecretKey | str | bytes, subscriber_id: int, run_id: int, index: int) -> str:
    return make_token(key, KIND_BOOKING_REF, subscriber_id, f"{run_id}.{index}")


def read_ref(key: SecretKey | str | bytes, value: str) -> Ref | None:
    """The reference in ``value``, or None when it is not one of ours (altered, foreign, other)."""
    if not 20 <= len(value) <= 80:
        return None
    try:
        token = read_token(key, value, KIND_BOOKING_REF)
    except TokenError:
        return None
    run, dot, index = token.campaign.partition(".")
    if not (dot and run.isascii() and run.isdigit() and index.isascii() and index.isdigit()):
        return None
    return Ref(token.subscriber_id, int(run), int(index))


def is_booking_place(place: str) -> bool:
    """The consultation buttons: cta, cta-top, cta-middle, cta-bottom..."""
    return place == "cta" or place.startswith("cta-")


def _page(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower().removeprefix("www.")
    return host, parts.path.rstrip("/")


def is_booking_link(url: str, place: str, booking_url: str) -> bool:
    """A call to action, or a link to the booking page (booking.url, whatever its query)."""
    return is_booking_place(place) or (bool(booking_url) and _page(url) == _page(booking_url))


def is_calcom(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return any(host == name or host.endswith("." + name) for name in _CALCOM_HOSTS)


@lru_cache(maxsize=4096)
def redirect_template(url: str, place: str, booking_url: str, slug: str) -> str | None:
    """The booking link's redirect address with _FILL where the reference goes, or None for a
    link that is not a booking link (it redirects exactly as sent)."""
    if not is_booking_link(url, place, booking_url):
        return None
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    ours = {REF_PARAM, "metadata[utm_term]", "metadata[utm_campaign]", "metadata[utm_content]"}
    query = parts.query
    if any(name in ours for name, _ in pairs):  # the clinic's own, replaced by ours
        query = urlencode([(name, value) for name, value in pairs if name not in ours])
    have = dict(pairs)
    missing = [
        (name, value)
        for name, value in (
            ("utm_source", UTM_SOURCE),
            ("utm_medium", UTM_MEDIUM),
            ("utm_campaign", slug),
            ("utm_content", place),
        )
        if name not in have
    ]
    extra = urlencode(missing) + "&" if missing else ""
    extra += f"{REF_PARAM}={_FILL}"
    if is_calcom(url):
        campaign = quote(have.get("utm_campaign", slug), safe="")
        content = quote(have.get("utm_content", place), safe="")
        extra += (
            f"&metadata%5Butm_term%5D={_FILL}&metadata%5Butm_campaign%5D={campaign}"
            f"&metadata%5Butm_content%5D={content}"
        )
    return urlunsplit(parts._replace(query=f"{query}&{extra}" if query else extra))


def booking_redirect(
    key: SecretKey, url: str, place: str, booking_url: str, slug: str, ref: Ref
) -> str:
    """Where a click on this link goes: the link as sent, plus the reference if it is a booking
    link. The template is cached per link; the reference costs one HMAC."""
    template = redirect_template(url, place, booking_url, slug)
    if template is None:
        return url
    return template.replace(_FILL, make_ref(key, ref.subscriber_id, ref.run_id, ref.link_index))
