"""One recipient's message as RFC 5322 bytes: text/plain and text/html alternatives.

Used by the outbox and SMTP providers and by `mailer preview`, so what staff preview is
byte for byte what a subscriber gets.

Building a message with ``email.message.EmailMessage`` costs far more than sending it, so the
campaign is compiled once (``compile_template``): the fixed headers are folded and encoded, the
boundary chosen. Per recipient only the placeholders are filled, in the *decoded* text, and the
filled parts are then quoted-printable encoded by ``binascii`` (C). Placeholders never pass
through an encoder, so they cannot be split by a soft line break or escaped away. The boundary
starts with "=_", which quoted-printable output can never contain ("=" is always "=3D").
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import uuid
from dataclasses import dataclass
from email import message_from_bytes
from email.header import Header
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formataddr, formatdate

from mailer.delivery.types import MessageTemplate, Recipient, fill

CRLF = "\r\n"
_MAX_PLAIN_HEADER = 78
_LINE_BREAKS = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True)
class RenderedMessage:
    message_id: str  # with its angle brackets, as in the Message-ID header
    data: bytes


class CompiledMessage:
    """A campaign's message with everything per-campaign done once; ``render`` per recipient."""

    def __init__(self, template: MessageTemplate) -> None:
        self.template = template
        self._domain = template.from_email.rpartition("@")[2] or "localhost"
        self._boundary = f"=_mailer_{secrets.token_hex(12)}"
        self._subject_line = _header_line("Subject", template.subject)
        fixed = [_header_line("From", _address(template.from_name, template.from_email))]
        if template.reply_to:
            fixed.append(_header_line("Reply-To", template.reply_to))
        self._fixed_head = "".join(fixed)
        # Each header as given (placeholders unfilled): reused when a recipient changes nothing.
        self._headers = [
            (name, value, _header_line(name, value)) for name, value in template.headers.items()
        ]
        self._text = _EncodedBody(template.text)
        self._html = _EncodedBody(template.html)
        b = self._boundary
        self._tail_head = (
            f"MIME-Version: 1.0{CRLF}"
            f'Content-Type: multipart/alternative; boundary="{b}"{CRLF}{CRLF}'
        ).encode("ascii")
        part = (
            'Content-Type: text/{}; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable'
        )
        self._text_open = f"--{b}{CRLF}{part.format('plain')}{CRLF}{CRLF}".encode("ascii")
        self._html_open = f"{CRLF}--{b}{CRLF}{part.format('html')}{CRLF}{CRLF}".encode("ascii")
        self._close = f"{CRLF}--{b}--{CRLF}".encode("ascii")

    def render(self, recipient: Recipient) -> RenderedMessage:
        values = recipient.substitutions
        message_id = f"<{uuid.uuid4().hex}@{self._domain}>"
        subject = fill(self.template.subject, values)
        head = [
            self._subject_line
            if subject is self.template.subject
            else _header_line("Subject", subject),
            self._fixed_head,
            _to_line(_one_line(recipient.name), _one_line(recipient.email)),
            f"Date: {formatdate(usegmt=True)}{CRLF}",
            f"Message-ID: {message_id}{CRLF}",
        ]
        for name, value, line in self._headers:
            filled = fill(value, values)
            head.append(line if filled is value else _header_line(name, filled))
        data = b"".join(
            (
                "".join(head).encode("utf-8"),  # ASCII unless an address is not (RFC 6532)
                self._tail_head,
                self._text_open,
                self._text.render(values),
                self._html_open,
                self._html.render(values),
                self._close,
            )
        )
        return RenderedMessage(message_id, data)


_last_compiled: CompiledMessage | None = None


def compile_template(template: MessageTemplate) -> CompiledMessage:
    """The compiled form of ``template``; the last one is reused while the same object is passed."""
    global _last_compiled
    last = _last_compiled
    if last is not None and last.template is template:
        return last
    compiled = CompiledMessage(template)
    _last_compiled = compiled
    return compiled


def build_message_bytes(template: MessageTemplate, recipient: Recipient) -> bytes:
    return compile_template(template).render(recipient).data


def build_message(template: MessageTemplate, recipient: Recipient) -> EmailMessage:
    """The same message parsed back as an EmailMessage (for previews and tests)."""
    parsed = message_from_bytes(build_message_bytes(template, recipient), policy=SMTP)
    assert isinstance(parsed, EmailMessage)
    return parsed


def _normalize_newlines(text: str) -> str:
    return _LINE_BREAKS.sub("\n", text)


def _one_line(value: str) -> str:
    """No CR/LF from a value may reach a header: that would let it add headers of its own."""
    if "\n" in value or "\r" in value:
        return " ".join(value.splitlines())
    return value


class _EncodedBody:
    """A part's text, quoted-printable encoded once where no recipient can change it.

    Quoted-printable works line by line (soft breaks restart at each hard line break), so a
    line without placeholders encodes the same for everyone: those runs of lines are encoded
    once per set of placeholder names; only the lines holding a placeholder are encoded per
    recipient.
    """

    def __init__(self, text: str) -> None:
        self.text = _normalize_newlines(text)
        if not self.text.endswith("\n"):
            self.text += "\n"  # as EmailMessage.set_content does: the part ends with a line break
        self.lines = self.text.splitlines(keepends=True)
        self._plans: dict[tuple[str, ...], list[bytes | str]] = {}

    def render(self, values: dict[str, str]) -> bytes:
        keys = tuple(values)
        plan = self._plans.get(keys)
        if plan is None:
            plan = self._plans[keys] = self._plan(keys)
        out: list[bytes] = []
        for item in plan:
            out.append(item if isinstance(item, bytes) else _quoted_printable(fill(item, values)))
        return b"".join(out)

    def _plan(self, keys: tuple[str, ...]) -> list[bytes | str]:
        if any("\n" in key or "\r" in key for key in keys):
            return [self.text]  # a placeholder spanning lines: encode the whole per recipient
        plan: list[bytes | str] = []
        static: list[str] = []
        for line in self.lines:
            if any(key in line for key in keys):
                if static:
                    plan.append(_quoted_printable("".join(static)))
                    static = []
                plan.append(line)
            else:
                static.append(line)
        if static:
            plan.append(_quoted_printable("".join(static)))
        if len(self._plans) > 16:  # recipients with ever-different keys: do not grow forever
            self._plans.clear()
        return plan


def _header_line(name: str, value: str) -> str:
    """``Name: value`` CRLF; RFC 2047-encoded and folded when not plain short ASCII."""
    value = _one_line(value)
    if value.isascii():
        if len(name) + 2 + len(value) <= _MAX_PLAIN_HEADER or " " not in value:
            return f"{name}: {value}{CRLF}"  # short, or one long word (a URL) that cannot fold
        encoded = Header(value, "us-ascii", header_name=name).encode(linesep=CRLF)
        return f"{name}: {encoded}{CRLF}"
    return f"{name}: {_encoded_words(value)}{CRLF}"


def _encoded_words(value: str) -> str:
    """RFC 2047 base64 encoded-words of at most 45 bytes each (75 characters), folded."""
    words: list[str] = []
    chunk: list[str] = []
    size = 0
    for char in value:
        width = len(char.encode("utf-8"))
        if size + width > 45:
            words.append("".join(chunk))
            chunk, size = [], 0
        chunk.append(char)
        size += width
    words.append("".join(chunk))
    encoded = (
        "=?utf-8?b?" + base64.b64encode(word.encode("utf-8")).decode("ascii") + "?="
        for word in words
    )
    return (CRLF + " ").join(encoded)


def _address(name: str, email: str) -> str:
    return formataddr((name, email)) if name else email


def _to_line(name: str, email: str) -> str:
    if email.isascii():
        return _header_line("To", _address(name, email))
    # An internationalized address (RFC 6532, sent with SMTPUTF8): the header is UTF-8 as is.
    if not name:
        return f"To: {email}{CRLF}"
    quoted = name.replace("\\", "\\\\").replace('"', '\\"')
    return f'To: "{quoted}" <{email}>{CRLF}'


def _quoted_printable(text: str) -> bytes:
    if "\r" in text:  # a substituted value brought its own line breaks
        text = _normalize_newlines(text)
    encoded = binascii.b2a_qp(text.encode("utf-8"), istext=True)
    return encoded.replace(b"\n", b"\r\n")
