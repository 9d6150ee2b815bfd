"""Logging for every command: one handler on stderr, text or JSON lines (MAILER_LOG_FORMAT).

Whatever a log line says passes through ``redact`` first: email addresses, the tokens in link
paths (/u/, /c/, /confirm/ and any ``token=``), SendGrid API keys and the configured secret
values are replaced before the line is written, so a log shipped to a collector holds no
personal data or credentials even when a library logs a request or an error quotes an address.
Commands print their own results on stdout; logs are for operators.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

LEVELS = ("debug", "info", "warning", "error")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_PATTERNS = (
    # An address anywhere (a provider's error, a library's debug line).
    (re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+"), "<address>"),
    # Signed link tokens in paths: /u/TOKEN, /c/TOKEN.3, /confirm/TOKEN, /staff/.../TOKEN.
    (re.compile(r"/(u|c|confirm|password|reset|welcome)/[\w.~%-]+"), r"/\1/<token>"),
    (re.compile(r"(?i)\b(token|key|password|secret|signature)=[^&\s\"']+"), r"\1=<redacted>"),
    (re.compile(r"\bSG\.[\w-]{8,}\.[\w-]{8,}"), "SG.<redacted>"),
    (re.compile(r"(?i)\b(bearer|basic)\s+[^\s'\",}]+"), r"\1 <redacted>"),
)
# Loggers kept at info even with --log-level debug. python_http_client (sendgrid's HTTP layer)
# logs every request whole at debug: each recipient's address, name and link tokens, some of
# them bare values that redaction cannot tell from other text, and the API key header.
# markdown_it logs each parser rule it enters: hundreds of lines per campaign, nothing useful.
_QUIET = ("python_http_client", "markdown_it")


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` without addresses, link tokens, API keys and the given secret values."""
    for secret in secrets:
        if len(secret) >= 4:  # a blank or tiny value would blank out ordinary words
            text = text.replace(secret, "<secret>")
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFormatter(logging.Formatter):
    """The text format, redacted."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__(TEXT_FORMAT)
        self.secrets = tuple(secrets)

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record), self.secrets)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message[, exception]."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = tuple(secrets)

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage(), self.secrets),
        }
        if record.exc_info:
            document["exception"] = redact(self.formatException(record.exc_info), self.secrets)
        return json.dumps(document, ensure_ascii=False)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time of the record (pytest swaps it per test)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


_handler: logging.Handler | None = None


def configure(level: str, fmt: str = "text", secrets: Iterable[str] = ()) -> None:
    """Send every logger's records to stderr at ``level`` in ``fmt`` ("text" or "json").

    Replaces the handler an earlier call added (several command lines in one process, as in
    the tests, do not double the lines) and leaves other handlers alone.
    """
    global _handler
    root = logging.getLogger()
    if _handler is not None:
        root.removeHandler(_handler)
    _handler = _StderrHandler()
    _handler.setFormatter(JsonFormatter(secrets) if fmt == "json" else RedactingFormatter(secrets))
    root.addHandler(_handler)
    root.setLevel(level.upper())
    for name in _QUIET:
        logging.getLogger(name).setLevel(logging.INFO)


def set_level(level: str) -> None:
    logging.getLogger().setLevel(level.upper())


def level_name() -> str:
    """The root logger's level as uvicorn spells it ("info")."""
    return logging.getLevelName(logging.getLogger().level).lower()
