"""An aiosmtpd server on 127.0.0.1 that records what it receives.

    with FakeSmtp(tls="starttls", auth=("user", "pw")) as server:
        provider = SmtpProvider("127.0.0.1", server.port, security="starttls",
                                username="user", password="pw", ssl_context=server.client_context())

Options: ``tls`` None (plain), "starttls" or "implicit" (SMTPS), with a self-signed certificate
for 127.0.0.1 made on the spot; ``auth`` (login, password) required before MAIL; ``refuse``:
addresses answered "550 5.1.1" at RCPT; ``rcpt_replies``: per address, the replies its next RCPTs
get in turn (e.g. ["450 4.2.1 Mailbox busy"]: refused once, then accepted); ``refuse_data``:
addresses whose messages are answered "554 5.6.0" at DATA; ``accept_at_most``: after that many
messages, every DATA is answered "421" (a server going down mid-batch); ``delay``: seconds
each DATA takes before its answer (a slow server, so a send can be interrupted part-way);
``pipelining``: offer PIPELINING in the EHLO reply (aiosmtpd reads commands in order either way).
``connections`` counts TCP connections accepted (STARTTLS does not make a new one); ``hang_up``
closes them.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
import tempfile
import threading
import time
from dataclasses import dataclass
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from pathlib import Path
from typing import Any, Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class ReceivedMessage:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    received_at: float = 0.0  # time.monotonic() when the server accepted it

    def parsed(self) -> EmailMessage:
        message = message_from_bytes(self.data, policy=SMTP_POLICY)
        assert isinstance(message, EmailMessage)
        return message


def self_signed_certificate(directory: Path) -> tuple[Path, Path, bytes]:
    """(cert file, key file, cert PEM) for 127.0.0.1 and localhost, valid for a day."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = certificate.public_bytes(serialization.Encoding.PEM)
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(pem)
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path, pem


class _Recorder:
    """The aiosmtpd handler."""

    def __init__(self, refuse: set[str]) -> None:
        self.refuse = {address.lower() for address in refuse}
        self.accept_at_most: int | None = None
        self.delay = 0.0
        self.rcpt_replies: dict[str, list[str]] = {}
        self.refuse_data: set[str] = set()
        self.pipelining = False
        self.messages: list[ReceivedMessage] = []
        self.lock = threading.Lock()

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        session.host_name = hostname
        if self.pipelining:
            return [*responses[:-1], "250-PIPELINING", responses[-1]]
        return responses

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address.lower() in self.refuse:
            return "550 5.1.1 No such user here"
        with self.lock:
            replies = self.rcpt_replies.get(address.lower())
            if replies:
                return replies.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or envelope.content or b""
        assert isinstance(content, bytes)
        if self.delay:
            await asyncio.sleep(self.delay)
        if any(address.lower() in self.refuse_data for address in envelope.rcpt_tos):
            return "554 5.6.0 Message refused: content rejected"
        with self.lock:
            if self.accept_at_most is not None and len(self.messages) >= self.accept_at_most:
                return "421 4.3.2 Service shutting down"
            self.messages.append(
                ReceivedMessage(
                    str(envelope.mail_from), tuple(envelope.rcpt_tos), content, time.monotonic()
                )
            )
        return "250 Message accepted for delivery"


class FakeSmtp:
    def __init__(
        self,
        *,
        tls: Literal["starttls", "implicit"] | None = None,
        auth: tuple[str, str] | None = None,
        refuse: set[str] | None = None,
        accept_at_most: int | None = None,
        delay: float = 0.0,
        rcpt_replies: dict[str, list[str]] | None = None,
        refuse_data: set[str] | None = None,
        pipelining: bool = False,
    ) -> None:
        self.tls = tls
        self.auth = auth
        self.recorder = _Recorder(refuse or set())
        self.recorder.accept_at_most = accept_at_most
        self.recorder.delay = delay
        self.recorder.rcpt_replies = {a.lower(): list(r) for a, r in (rcpt_replies or {}).items()}
        self.recorder.refuse_data = {address.lower() for address in refuse_data or set()}
        self.recorder.pipelining = pipelining
        self.connections = 0
        self._transports: list[Any] = []
        self._lock = threading.Lock()
        self._tmp = tempfile.TemporaryDirectory(prefix="fake-smtp-")
        self.cert_pem = b""
        server_context: ssl.SSLContext | None = None
        if tls:
            cert, key, self.cert_pem = self_signed_certificate(Path(self._tmp.name))
            server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            server_context.load_cert_chain(cert, key)
        kwargs: dict[str, Any] = {"server_hostname": "fake-smtp.test", "enable_SMTPUTF8": True}
        if tls == "starttls":
            kwargs["tls_context"] = server_context
        if auth:
            kwargs["authenticator"] = self._authenticate
            kwargs["auth_required"] = True
            kwargs["auth_require_tls"] = tls is not None
        fake = self

        class _CountingSMTP(SMTP):
            def connection_made(self, transport: Any) -> None:
                if self._original_transport is None:  # STARTTLS calls this again: not new
                    with fake._lock:
                        fake.connections += 1
                        fake._transports.append(transport)
                super().connection_made(transport)

        class _Controller(Controller):
            def factory(self) -> SMTP:
                return _CountingSMTP(self.handler, **self.SMTP_kwargs)

            def _trigger_server(self) -> None:
                # Bound to port 0: learn the real port before the readiness probe connects.
                server = self.server
                assert isinstance(server, asyncio.Server)
                self.port = server.sockets[0].getsockname()[1]
                super()._trigger_server()

        self._controller = _Controller(
            self.recorder,
            hostname="127.0.0.1",
            port=0,
            ssl_context=server_context if tls == "implicit" else None,
            **kwargs,
        )

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if not isinstance(data, LoginPassword) or self.auth is None:
            return AuthResult(success=False, handled=False)
        ok = (data.login.decode(), data.password.decode()) == self.auth
        return AuthResult(success=ok, handled=False)

    @property
    def port(self) -> int:
        return int(self._controller.port)

    @property
    def messages(self) -> list[ReceivedMessage]:
        with self.recorder.lock:
            return list(self.recorder.messages)

    def client_context(self) -> ssl.SSLContext:
        """An SSL context that trusts this server's certificate (and nothing else)."""
        context = ssl.create_default_context(cadata=self.cert_pem.decode("ascii"))
        return context

    def hang_up(self) -> None:
        """Close every open connection from the server side, as an idle timeout does."""
        with self._lock:
            transports, self._transports = self._transports, []
        done = threading.Event()

        def close_all() -> None:
            for transport in transports:
                transport.close()
            done.set()

        self._controller.loop.call_soon_threadsafe(close_all)
        done.wait(5)

    def start(self) -> FakeSmtp:
        self._controller.start()
        with self._lock:
            self.connections = 0  # the controller's own readiness probe does not count
        return self

    def stop(self) -> None:
        self._controller.stop()
        self._tmp.cleanup()

    def __enter__(self) -> FakeSmtp:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
