"""A feed's address as messages and logs show it: any user name and password left out.

Apart from :mod:`mailer.feed.fetch` (which loads an HTTP client) so that the report, the staff
messages and `mailer scheduler status` can name the feed without it.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def shown_url(url: str) -> str:
    """The address for messages and logs: any user name and password left out."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
