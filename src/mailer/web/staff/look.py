"""The look of the staff pages: static files, and the clinic's colour as a stylesheet.

The Content-Security-Policy of the staff pages allows styles and scripts from this server only
(no inline ones), so the clinic's colour (``organization.brand_color``) comes as a tiny
stylesheet, ``/staff/theme.css``, with the text colour that is readable on it (WCAG contrast,
as `mailer check` measures it) and an ink for links that is readable on white.

Static files are served from the package (``web/static/``) at ``/staff/static/``; their URLs
carry a hash of the content, so a browser never keeps an old copy after an upgrade.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

from mailer.campaigns.check import contrast_ratio

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
STATIC_PATH = "/staff/static"
THEME_PATH = "/staff/theme.css"
READABLE = 4.5  # WCAG AA for body text
DARK_TEXT = "#111827"
LIGHT_TEXT = "#ffffff"


@cache
def _version(name: str) -> str:
    path = STATIC_DIR / name
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12] if path.is_file() else "0"


def static_url(name: str) -> str:
    """``/staff/static/<name>?v=<content hash>``, e.g. static_url("vendor/htmx.min.js")."""
    return f"{STATIC_PATH}/{name}?v={_version(name)}"


def brand_text_colour(brand: str) -> str:
    """White or near-black, whichever is the more readable on the brand colour."""
    return (
        LIGHT_TEXT
        if contrast_ratio(brand, LIGHT_TEXT) >= contrast_ratio(brand, DARK_TEXT)
        else DARK_TEXT
    )


def brand_ink(brand: str) -> str:
    """The brand colour for links and headings when it is readable on white, else dark text."""
    return brand if contrast_ratio(brand, "#ffffff") >= READABLE else DARK_TEXT


def theme_css(brand: str) -> str:
    return (
        f":root {{ --brand: {brand}; --on-brand: {brand_text_colour(brand)}; "
        f"--brand-ink: {brand_ink(brand)}; }}\n"
    )


def theme_url(brand: str) -> str:
    return f"{THEME_PATH}?v={brand.lstrip('#').lower()}"
