"""The embedded default provider: each message an .eml file under ``outbox/<slug>/``, named
by the recipient's address (``outbox/<slug>/maria@example.com.eml``).

Files are written atomically (a temporary file in the same folder, then os.replace), so a
crash never leaves half a message, and sending the same recipient again replaces the file.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

from mailer.delivery.errors import PermanentProviderError, TransientProviderError
from mailer.delivery.mime import compile_template
from mailer.delivery.providers.base import PerMessageProvider
from mailer.delivery.types import MessageTemplate, Recipient

_UNSAFE = re.compile(r"[^A-Za-z0-9._@+-]")


def safe_name(text: str) -> str:
    """A file-name form of ``text``; a short hash keeps two different texts apart."""
    cleaned = _UNSAFE.sub("_", text).strip(".") or "_"
    if cleaned == text:
        return cleaned
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]
    return f"{cleaned[:80]}-{digest}"


def message_file_name(recipient: Recipient) -> str:
    """The recipient's file: see :func:`outbox_file_name`."""
    return outbox_file_name(recipient.email)


def outbox_file_name(address: str) -> str:
    """``<address>.eml``, so a person finds someone's copy by the address they know
    (``maria@example.com.eml``), in lower case and made safe for a file name (a ``/``, a
    leading dot or other characters become ``_``, with a short hash to keep two addresses
    apart). An address is on the list once, so one send never gives two people one file."""
    return f"{safe_name(address.lower())}.eml"


class OutboxProvider(PerMessageProvider):
    name = "outbox"
    max_batch_size = 1000

    def __init__(self, outbox_root: Path) -> None:
        self.outbox_root = Path(outbox_root)

    def folder_for(self, template: MessageTemplate) -> Path:
        return self.outbox_root / safe_name(template.campaign_slug)

    def _send_one(self, template: MessageTemplate, recipient: Recipient) -> str:
        rendered = compile_template(template).render(recipient)
        folder = self.folder_for(template)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            _write_atomically(folder / message_file_name(recipient), rendered.data)
        except PermissionError as err:
            raise PermanentProviderError(
                None,
                f"cannot write to {folder}: {err.strerror}",
                hint="check the outbox folder's permissions",
            ) from err
        except OSError as err:  # disk full, a network share gone: may pass
            raise TransientProviderError(f"cannot write to {folder}: {err}") from err
        return rendered.message_id


def _write_atomically(path: Path, data: bytes) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".eml")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
