"""Plain SMTP (smtplib): one message per recipient over one reused connection.

The connection is opened on first use and kept across batches; a server that hung up in
between (SMTPServerDisconnected) is reconnected once. A refusal of one recipient (RCPT 5xx, or
DATA 5xx for that message) is a failure in the BatchResult, never a batch error. RCPT 4xx is a
temporary per-recipient failure (``permanent=False``). An RCPT 5xx whose status says the address
is gone (550 5.1.1 user unknown) is also a bounce (``bounced=True``): the subscriber is
suppressed. A DATA 5xx refuses this message, not the address. Not thread-safe: one per worker
thread.
"""

from __future__ import annotations

import re
import smtplib
import ssl
from typing import Literal

from mailer.delivery.errors import PermanentProviderError, TransientProviderError
from mailer.delivery.mime import compile_template
from mailer.delivery.providers.base import PerMessageProvider, RecipientRefused
from mailer.delivery.types import MessageTemplate, Recipient

Security = Literal["starttls", "tls", "none"]


class SmtpProvider(PerMessageProvider):
    name = "smtp"
    max_batch_size = 1000

    def __init__(
        self,
        host: str,
        port: int,
        *,
        security: Security = "starttls",
        username: str = "",
        password: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = 30.0,
        local_hostname: str | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.security = security
        self.username = username
        self._password = password or ""
        self.ssl_context = ssl_context or ssl.create_default_context()
        self.timeout = timeout
        self.local_hostname = local_hostname
        self.connections_opened = 0
        self._connection: smtplib.SMTP | None = None

    def __repr__(self) -> str:  # never the password
        return f"SmtpProvider({self.host!r}, {self.port}, security={self.security!r})"

    def _send_one(self, template: MessageTemplate, recipient: Recipient) -> str:
        rendered = compile_template(template).render(recipient)
        for attempt in (1, 2):
            connection = self._connect()
            options: list[str] = []
            if not recipient.email.isascii():
                if not connection.has_extn("smtputf8"):
                    raise RecipientRefused(
                        f"{self.host} cannot deliver to an internationalized address (no SMTPUTF8)"
                    )
                options.append("SMTPUTF8")
            try:
                connection.sendmail(
                    template.from_email, [recipient.email], rendered.data, mail_options=options
                )
            except smtplib.SMTPServerDisconnected as err:
                self._drop()
                if attempt == 2:
                    raise TransientProviderError(
                        f"SMTP server {self.host}:{self.port} hung up: {err}"
                    ) from err
                continue  # idle connection closed by the server: reconnect once
            except smtplib.SMTPRecipientsRefused as err:
                code, reply = err.recipients.get(recipient.email, (550, b"refused"))
                raise RecipientRefused(
                    f"{code} {_text(reply)}",
                    code,
                    permanent=code >= 500,
                    bounced=code >= 500 and address_is_gone(_text(reply)),
                ) from err
            except smtplib.SMTPSenderRefused as err:
                raise _whole_batch(err.smtp_code, f"sender {err.sender} refused", err) from err
            except smtplib.SMTPDataError as err:
                if err.smtp_code >= 500:
                    raise RecipientRefused(
                        f"{err.smtp_code} {_text(err.smtp_error)}", err.smtp_code
                    ) from err
                raise _whole_batch(err.smtp_code, "message not accepted", err) from err
            except smtplib.SMTPResponseException as err:  # e.g. 421 closing
                self._drop()
                raise _whole_batch(err.smtp_code, "SMTP error", err) from err
            except (smtplib.SMTPException, OSError) as err:
                self._drop()
                raise TransientProviderError(
                    f"SMTP to {self.host}:{self.port} failed: {type(err).__name__}: {err}"
                ) from err
            return rendered.message_id
        raise AssertionError("unreachable")

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            connection.quit()
        except (smtplib.SMTPException, OSError):
            connection.close()

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    def _connect(self) -> smtplib.SMTP:
        if self._connection is not None:
            return self._connection
        where = f"{self.host}:{self.port}"
        connection: smtplib.SMTP | None = None
        try:
            if self.security == "tls":
                connection = smtplib.SMTP_SSL(
                    self.host,
                    self.port,
                    local_hostname=self.local_hostname,
                    timeout=self.timeout,
                    context=self.ssl_context,
                )
            else:
                connection = smtplib.SMTP(
                    self.host, self.port, local_hostname=self.local_hostname, timeout=self.timeout
                )
            connection.ehlo()
            if self.security == "starttls":
                connection.starttls(context=self.ssl_context)
                connection.ehlo()
            if self.username:
                connection.login(self.username, self._password)
        except smtplib.SMTPAuthenticationError as err:
            _close_quietly(connection)
            raise PermanentProviderError(
                err.smtp_code,
                f"SMTP login as {self.username!r} refused by {where}: {_text(err.smtp_error)}",
                hint="check smtp.username and MAILER_SMTP__PASSWORD",
            ) from err
        except smtplib.SMTPNotSupportedError as err:
            _close_quietly(connection)
            raise PermanentProviderError(
                None,
                f"{where} does not support what smtp.security={self.security!r} needs: {err}",
                hint="check smtp.security (starttls, tls or none) and smtp.port",
            ) from err
        except ssl.SSLCertVerificationError as err:
            _close_quietly(connection)
            raise PermanentProviderError(
                None,
                f"{where}: TLS certificate not accepted: {err.verify_message}",
                hint="check smtp.host: it must be the name on the server's certificate",
            ) from err
        except (smtplib.SMTPException, OSError) as err:
            _close_quietly(connection)
            raise TransientProviderError(
                f"cannot connect to SMTP server {where}: {type(err).__name__}: {err}"
            ) from err
        self.connections_opened += 1
        self._connection = connection
        return connection


# RFC 3463 enhanced status codes that blame the address itself: 5.1.x, the addressing class
# (5.1.1 user unknown, 5.1.2 no such domain, 5.1.10 null MX...), except 5.1.7 and 5.1.8, which
# are about our sender address; and 5.2.1, mailbox disabled.
_ADDRESS_GONE = re.compile(r"5\.(?:1\.(?!7\b|8\b)\d{1,3}|2\.1)\b")


def address_is_gone(reply: str) -> bool:
    """Whether a 5xx reply to RCPT says the address is bad for good (an address bounce).

    Only when the reply's enhanced status code says so: a 5xx for policy (550 5.7.1 relaying
    denied: our relay's setup, not the address) or without a status code is a failed delivery
    only, so a misconfigured relay refusing every recipient never bounces the whole list.
    """
    return _ADDRESS_GONE.match(reply.lstrip()) is not None


def _whole_batch(code: int, what: str, err: smtplib.SMTPResponseException) -> Exception:
    message = f"{what}: {code} {_text(err.smtp_error)}"
    if 400 <= code < 500:
        return TransientProviderError(f"SMTP {message}")
    return PermanentProviderError(code, message)


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


def _close_quietly(connection: smtplib.SMTP | None) -> None:
    if connection is not None:
        connection.close()
