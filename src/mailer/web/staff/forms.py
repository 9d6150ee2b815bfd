"""Staff form bodies: urlencoded or multipart (with files), read once and size-capped.

Without python-multipart, as the public pages (web/unsubscribe.py): the stdlib's email parser
reads multipart bodies. The body must declare its length (browsers always do for forms) and stay
under MAX_FORM_BYTES, else FormTooLarge, before anything is read. The parsed form is kept on the
request, so the CSRF check and the route read it once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from urllib.parse import parse_qs

from fastapi import HTTPException, Request

from mailer.articles.source import MAX_BYTES as MAX_ARTICLE_BYTES
from mailer.errors import InputError

MAX_FILES = 5  # articles in one upload: a digest of five is the feed's digest size too
# Five article files at the importer's own cap, and the text fields beside them.
MAX_FORM_BYTES = MAX_FILES * MAX_ARTICLE_BYTES + 256 * 1024


class FormTooLarge(InputError):
    """The request body is over MAX_FORM_BYTES or does not say its length."""


@dataclass(frozen=True)
class Upload:
    field: str
    filename: str
    data: bytes


@dataclass
class Form:
    fields: dict[str, list[str]] = field(default_factory=dict)
    uploads: list[Upload] = field(default_factory=list)

    def has(self, *names: str) -> bool:
        """Every one of ``names`` was sent (perhaps empty)."""
        return all(name in self.fields for name in names)

    def first(self, name: str, default: str = "") -> str:
        values = self.fields.get(name)
        return values[0] if values else default

    def files(self, name: str) -> list[Upload]:
        """The files sent in field ``name`` (a file input left empty sends none)."""
        return [u for u in self.uploads if u.field == name and (u.filename or u.data)]


async def read_form(request: Request) -> Form:
    """The request's form, parsed once per request. Raises FormTooLarge."""
    cached = getattr(request.state, "staff_form", None)
    if isinstance(cached, Form):
        return cached
    declared = request.headers.get("content-length", "")
    if not declared.isdigit() or int(declared) > MAX_FORM_BYTES:
        raise FormTooLarge(
            f"the form is too large (at most {MAX_FORM_BYTES // 1024 // 1024} MB) "
            "or does not say its size",
            hint=f"send at most {MAX_FILES} article files of up to "
            f"{MAX_ARTICLE_BYTES // 1024 // 1024} MB each",
        )
    body = await request.body()  # Starlette keeps it on the request: read once
    content_type = request.headers.get("content-type", "")
    form = parse_form(content_type, body)
    request.state.staff_form = form
    return form


async def posted_form(request: Request) -> Form:
    """The request's form for a route: HTTPException 413 when it is too large."""
    try:
        return await read_form(request)
    except FormTooLarge as err:
        raise HTTPException(413, f"{err.message}; {err.hint}") from err


def parse_form(content_type: str, body: bytes) -> Form:
    """An urlencoded or multipart/form-data body; an unreadable one is an empty Form."""
    if content_type.lower().startswith("multipart/form-data"):
        return _multipart(content_type, body)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return Form()
    return Form(parse_qs(text, keep_blank_values=True))


def _multipart(content_type: str, body: bytes) -> Form:
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1", "replace")
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    form = Form()
    if not message.is_multipart():
        return form
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if not isinstance(name, str) or not isinstance(payload, bytes):
            continue
        filename = part.get_filename()
        if filename is not None:
            form.uploads.append(Upload(name, filename, payload))
        else:
            form.fields.setdefault(name, []).append(payload.decode("utf-8", "replace"))
    return form
