"""Untrusted HTML made safe with nh3 before anything is read from it.

Scripts, styles, iframes, forms, buttons and embedded media go with their content; event
handlers, inline styles and javascript: links go; only plain structure (headings, paragraphs,
lists, images, links) stays. Tracking pixels are recognized here too.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import nh3

ALLOWED_TAGS = {
    "p", "br", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "img", "a", "blockquote",
    "strong", "em", "b", "i", "u", "span", "div", "section", "article", "main", "header",
    "figure", "figcaption", "pre", "code", "table", "thead", "tbody", "tr", "td", "th", "dl",
    "dt", "dd", "hr", "sup", "sub", "small", "mark", "abbr", "cite", "q", "s", "del", "ins",
    "picture",
}  # fmt: skip
DROPPED_WITH_CONTENT = {
    "script", "style", "iframe", "frame", "frameset", "form", "noscript", "object", "embed",
    "template", "svg", "math", "canvas", "video", "audio", "select", "textarea", "button",
    "input", "label", "nav", "footer", "aside", "head", "title", "applet", "dialog", "source",
}  # fmt: skip
ATTRIBUTES = {"img": {"src", "alt", "width", "height"}, "a": {"href"}, "ol": {"start"}}
URL_SCHEMES = {"http", "https", "mailto", "tel"}

# Hosts that serve tracking pixels and beacons, never article images.
TRACKER_HOSTS = (
    "google-analytics.com", "googletagmanager.com", "doubleclick.net", "facebook.com",
    "facebook.net", "bat.bing.com", "analytics.twitter.com", "t.co", "ads.linkedin.com",
    "px.ads.linkedin.com", "scorecardresearch.com", "quantserve.com", "pixel.wp.com",
    "stats.wp.com", "feedburner.com", "feeds.feedburner.com", "mc.yandex.ru", "ct.pinterest.com",
    "list-manage.com", "hubspot.com", "hs-analytics.net", "hsforms.com", "omtrdc.net",
    "demdex.net", "adsrvr.org", "criteo.com", "taboola.com", "outbrain.com", "matomo.cloud",
    "sendgrid.net", "mailchimp.com", "pixel.mathtag.com", "segment.io", "segment.com",
    "hotjar.com", "clarity.ms",
)  # fmt: skip
_TRACKER_PATH_WORDS = ("/pixel", "/beacon", "/track", "/tr?", "/tr/", "1x1", "/open.gif", "/p.gif")


def clean_html(html: str) -> str:
    """A safe HTML fragment: only structure, no active content and no hidden content."""
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        clean_content_tags=DROPPED_WITH_CONTENT,
        attributes=ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel=None,
        strip_comments=True,
    )


def is_tracker_image(src: str, width: str | None = None, height: str | None = None) -> bool:
    """A 1x1 (or 0x0) image, or one from a known tracking host or path."""
    if _tiny(width) or _tiny(height):
        return True
    parts = urlsplit(src)
    host = (parts.hostname or "").lower()
    if any(host == known or host.endswith("." + known) for known in TRACKER_HOSTS):
        return True
    path = (parts.path + ("?" + parts.query if parts.query else "")).lower()
    return any(word in path for word in _TRACKER_PATH_WORDS)


def _tiny(size: str | None) -> bool:
    if size is None:
        return False
    digits = size.strip().removesuffix("px").strip()
    return digits.isdigit() and int(digits) <= 1
