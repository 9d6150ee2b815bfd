"""A file upload streamed to disk: a multipart/form-data body read chunk by chunk, its one file
written straight into a folder, its small fields kept in memory.

For the CSV import (web/staff/imports.py), whose files are up to ``[staff] upload_max_mb``
(50 MB by default): the staff guard does not buffer such a body (see guard.STREAMED), and this
reader never holds more than a chunk and the field values. Standard library only, as the other
staff and public forms (no python-multipart).

Invariants: at most ``max_bytes`` are read, whatever Content-Length says (UploadRefused
after that, the partial file removed); one file part; fields of at most MAX_FIELD bytes and
MAX_FIELDS of them; a body that is not well-formed multipart is UploadRefused, never a 500.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from email.policy import HTTP
from pathlib import Path
from typing import IO

from mailer.errors import InputError

MAX_FIELD = 64 * 1024
MAX_FIELDS = 20
MAX_HEADER = 8 * 1024


class UploadRefused(InputError):
    """The body is too big or not a well-formed form; ``too_big`` says which."""

    def __init__(self, message: str, *, hint: str | None = None, too_big: bool = False) -> None:
        super().__init__(message, hint=hint)
        self.too_big = too_big


@dataclass
class Received:
    fields: dict[str, str] = field(default_factory=dict)
    file_field: str = ""
    file_name: str = ""  # as the browser named it
    path: Path | None = None  # where it was written
    size: int = 0


def boundary_of(content_type: str) -> bytes | None:
    head = f"Content-Type: {content_type}\r\n\r\n".encode("latin-1", "replace")
    message = BytesHeaderParser(policy=HTTP).parsebytes(head)
    if message.get_content_type() != "multipart/form-data":
        return None
    value = message.get_param("boundary")
    if not isinstance(value, str) or not 1 <= len(value) <= 200:
        return None
    return value.encode("latin-1", "replace")


async def receive_upload(
    chunks: AsyncIterator[bytes],
    content_type: str,
    target: Callable[[str], Path],
    *,
    max_bytes: int,
) -> Received:
    """Read the form; its file goes to ``target(file_name)``, a path in a folder the caller
    owns. UploadRefused for a body over ``max_bytes`` or not a multipart form."""
    boundary = boundary_of(content_type)
    if boundary is None:
        raise UploadRefused("this is not a file upload form")
    reader = _Parser(boundary, target)
    total = 0
    try:
        async for chunk in chunks:
            total += len(chunk)
            if total > max_bytes:
                raise UploadRefused(
                    f"the file is bigger than {max_bytes // (1024 * 1024)} MB",
                    hint="split it into smaller files, or import it on the server with "
                    "`mailer subscribers import FILE`",
                    too_big=True,
                )
            reader.feed(chunk)
        reader.end()
    except BaseException:
        reader.discard()
        raise
    return reader.received


class _Parser:
    """The multipart state machine: preamble, part headers, part body, ..., the closing line."""

    def __init__(self, boundary: bytes, target: Callable[[str], Path]) -> None:
        self.delimiter = b"\r\n--" + boundary
        self.target = target
        self.buffer = b"\r\n"  # so the first delimiter matches like the others
        self.state = "preamble"
        self.received = Received()
        self.name = ""
        self.value = bytearray()
        self.out: IO[bytes] | None = None

    def feed(self, data: bytes) -> None:
        self.buffer += data
        while self._step():
            pass

    def _step(self) -> bool:
        if self.state == "preamble":
            at = self.buffer.find(self.delimiter)
            if at < 0:
                self.buffer = self.buffer[-len(self.delimiter) :]
                return False
            self.buffer = self.buffer[at + len(self.delimiter) :]
            self.state = "after-delimiter"
            return True
        if self.state == "after-delimiter":
            if len(self.buffer) < 2:
                return False
            if self.buffer.startswith(b"--"):
                self.state = "done"
                self.buffer = b""
                return False
            if not self.buffer.startswith(b"\r\n"):
                raise UploadRefused("the form is not well-formed (after a boundary)")
            self.buffer = self.buffer[2:]
            self.state = "headers"
            return True
        if self.state == "headers":
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > MAX_HEADER:
                    raise UploadRefused("the form is not well-formed (a part's headers)")
                return False
            self._start_part(self.buffer[: end + 4])
            self.buffer = self.buffer[end + 4 :]
            self.state = "body"
            return True
        if self.state == "body":
            at = self.buffer.find(self.delimiter)
            if at < 0:
                keep = len(self.delimiter) - 1  # a delimiter may straddle two chunks
                self._write(self.buffer[: max(0, len(self.buffer) - keep)])
                self.buffer = self.buffer[max(0, len(self.buffer) - keep) :]
                return False
            self._write(self.buffer[:at])
            self._end_part()
            self.buffer = self.buffer[at + len(self.delimiter) :]
            self.state = "after-delimiter"
            return True
        return False  # done: an epilogue is ignored

    def _start_part(self, raw: bytes) -> None:
        headers = BytesHeaderParser(policy=HTTP).parsebytes(raw)
        name = headers.get_param("name", header="content-disposition")
        filename = headers.get_filename()
        if not isinstance(name, str):
            raise UploadRefused("the form is not well-formed (a part without a name)")
        self.name = name
        self.value = bytearray()
        if filename is not None:
            if self.received.path is not None:
                raise UploadRefused("send one file at a time")
            path = self.target(filename)
            self.received.file_field, self.received.file_name, self.received.path = (
                name,
                filename,
                path,
            )
            self.out = path.open("wb")
        elif len(self.received.fields) >= MAX_FIELDS:
            raise UploadRefused("the form has too many fields")

    def _write(self, data: bytes) -> None:
        if not data:
            return
        if self.out is not None:
            self.out.write(data)
            self.received.size += len(data)
            return
        self.value += data
        if len(self.value) > MAX_FIELD:
            raise UploadRefused(f"the form's field {self.name!r} is too long")

    def _end_part(self) -> None:
        if self.out is not None:
            self.out.close()
            self.out = None
        else:
            self.received.fields.setdefault(self.name, self.value.decode("utf-8", "replace"))

    def end(self) -> None:
        if self.state != "done":
            raise UploadRefused(
                "the upload was cut short", hint="choose the file again and press Import"
            )

    def discard(self) -> None:
        if self.out is not None:
            self.out.close()
            self.out = None
        if self.received.path is not None:
            self.received.path.unlink(missing_ok=True)
            self.received.path = None
