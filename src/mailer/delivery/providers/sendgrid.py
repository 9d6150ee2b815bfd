"""SendGrid's v3 Mail Send: one POST /v3/mail/send per batch of up to 1,000 recipients.

The compiled HTML and text go once per request (``content``); each recipient is one
personalization with its own ``substitutions`` (SendGrid fills them), ``custom_args``
(subscriber id: comes back in every webhook event), a filled subject when the subject has
placeholders, and the headers that hold placeholders (List-Unsubscribe carries the recipient's
token).

``build_payload`` says what a request holds, as plain dicts. What goes out is ``build_body``:
the same request as JSON text, written straight from the recipients, the bytes
``json.dumps(build_payload(...))`` gives (tests/delivery/test_sendgrid_body.py pins that for
awkward names and addresses) without the 1,000 dicts and the encoder's walk over them: 3.0 ms
instead of 4.8 a batch of 1,000 (issue 17). The text goes through the sendgrid package's own
client (python_http_client's ``Client``: its URL, headers, timeout and ``_make_request`` with
its error handling); only its ``post``'s encoding step is skipped, since ``post`` would encode
the text again as one JSON string (and it formats the whole body for a debug log even when
nothing logs: another 1 ms a request).
"""

from __future__ import annotations

import http.client
import json
import ssl
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import parseaddr, parsedate_to_datetime
from json.encoder import encode_basestring_ascii
from typing import Any
from urllib.error import URLError

from python_http_client.client import Response
from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient

from mailer.delivery.errors import (
    PermanentProviderError,
    RateLimited,
    TransientProviderError,
)
from mailer.delivery.providers.base import BatchResult, Provider
from mailer.delivery.types import MessageTemplate, Recipient, fill

# SendGrid refuses these in `headers` (Mail Send docs); they come from the fields instead.
RESERVED_HEADERS = frozenset(
    name.lower()
    for name in (
        "x-sg-id",
        "x-sg-eid",
        "received",
        "dkim-signature",
        "Content-Type",
        "Content-Transfer-Encoding",
        "To",
        "From",
        "Subject",
        "Reply-To",
        "CC",
        "BCC",
    )
)
MAX_RECIPIENTS_PER_REQUEST = 1000
MAX_CUSTOM_ARGS_BYTES = 10_000
MAX_CATEGORIES = 10
DEFAULT_RATE_LIMIT_WAIT = 1.0  # seconds, when a 429 names no reset time
_PERMANENT_HINTS = {
    401: "check SENDGRID_API_KEY: SendGrid does not accept it",
    403: "the API key lacks the Mail Send permission, or the sender is not verified",
    413: "the message is too large for SendGrid (30 MB in all); shorten it",
}


class SendGridProvider(Provider):
    name = "sendgrid"
    max_batch_size = MAX_RECIPIENTS_PER_REQUEST

    def __init__(
        self,
        api_key: str,
        *,
        api_host: str = "https://api.sendgrid.com",
        categories: Sequence[str] = (),
        timeout: float = 30.0,
    ) -> None:
        self.client = SendGridAPIClient(api_key=api_key, host=api_host.rstrip("/"))
        # SendGridAPIClient takes no timeout; its python_http_client.Client does, and passes
        # it on to every request built from it.
        self.client.client.timeout = timeout
        self.timeout = timeout
        self.categories = tuple(categories)

    def __repr__(self) -> str:  # never the key
        return f"SendGridProvider(host={self.client.host!r})"

    # -- hooks ---------------------------------------------------------------------------

    def _send(self, template: MessageTemplate, recipients: Sequence[Recipient]) -> BatchResult:
        message_id = self.post(self.build_body(template, recipients))
        result = BatchResult(provider_message_id=message_id)
        for recipient in recipients:
            result.accept(recipient, message_id or "")
        return result

    def build_payload(
        self, template: MessageTemplate, recipients: Sequence[Recipient]
    ) -> dict[str, Any]:
        """The request body of POST /v3/mail/send for this batch, as dicts."""
        batch = self._batch(template, recipients)
        subject = template.subject
        personalizations = []
        for recipient in recipients:
            values = recipient.substitutions
            to: dict[str, str] = {"email": recipient.email}
            if recipient.name:
                to["name"] = recipient.name
            personalization: dict[str, Any] = {"to": [to]}
            if values:
                personalization["substitutions"] = values
            if recipient.subscriber_id is not None:
                personalization["custom_args"] = {"subscriber_id": str(recipient.subscriber_id)}
            filled = fill(subject, values)
            if filled is not subject:
                personalization["subject"] = filled
            if batch.per_recipient_headers:
                personalization["headers"] = {
                    header: fill(value, values) for header, value in batch.per_recipient_headers
                }
            personalizations.append(personalization)
        return {"personalizations": personalizations, **batch.message}

    def build_body(self, template: MessageTemplate, recipients: Sequence[Recipient]) -> bytes:
        """``json.dumps(self.build_payload(template, recipients)).encode()``, written directly.

        Each string goes through the encoder's own ``encode_basestring_ascii`` (what
        ``json.dumps`` applies to every key and value: ASCII out, ``\\uXXXX`` for the rest),
        between the separators ``json.dumps`` writes by default, in the key order of
        ``build_payload``.
        """
        batch = self._batch(template, recipients)
        text = encode_basestring_ascii
        subject = template.subject
        headers = [(text(name) + ": ", value) for name, value in batch.per_recipient_headers]
        # fill() leaves the subject as it is (the same object) unless a placeholder is in it.
        subject_has_placeholders = any(placeholder in subject for placeholder in batch.placeholders)
        keys: dict[str, str] = {}  # placeholder -> its JSON text and ": " (the same few each time)
        people = []
        for recipient in recipients:
            values = recipient.substitutions
            person = '{"to": [{"email": ' + text(recipient.email)
            if recipient.name:
                person += ', "name": ' + text(recipient.name)
            person += "}]"
            if values:
                pairs = []
                for key, value in values.items():
                    key_text = keys.get(key)
                    if key_text is None:
                        key_text = keys[key] = text(key) + ": "
                    pairs.append(key_text + text(value))
                person += ', "substitutions": {' + ", ".join(pairs) + "}"
            if recipient.subscriber_id is not None:
                person += ', "custom_args": {"subscriber_id": ' + text(str(recipient.subscriber_id))
                person += "}"
            if subject_has_placeholders:
                filled = fill(subject, values)
                if filled is not subject:
                    person += ', "subject": ' + text(filled)
            if headers:
                person += (
                    ', "headers": {'
                    + ", ".join([name + text(fill(value, values)) for name, value in headers])
                    + "}"
                )
            people.append(person + "}")
        # The message-wide rest: json.dumps of it, its opening brace cut (it follows a comma).
        rest = json.dumps(batch.message)[1:]
        return ('{"personalizations": [' + ", ".join(people) + "], " + rest).encode("ascii")

    def _batch(self, template: MessageTemplate, recipients: Sequence[Recipient]) -> _Batch:
        """What a request holds besides the personalizations; checks SendGrid's limits."""
        placeholders = set().union(*(recipient.substitutions for recipient in recipients))
        static_headers: dict[str, str] = {}
        per_recipient_headers: list[tuple[str, str]] = []
        for header, value in template.headers.items():
            if header.lower() in RESERVED_HEADERS:
                raise PermanentProviderError(
                    None,
                    f"header {header!r} is reserved by SendGrid and cannot be set in headers",
                    hint="set sender, reply-to and subject in their own settings",
                )
            if any(placeholder in value for placeholder in placeholders):
                per_recipient_headers.append((header, value))
            else:
                static_headers[header] = value

        campaign_args = {"campaign_slug": template.campaign_slug}
        if template.campaign_id is not None:
            campaign_args["campaign_id"] = str(template.campaign_id)
        # Per personalization SendGrid counts these plus the subscriber id (a few dozen bytes).
        if len(json.dumps(campaign_args).encode("utf-8")) + 64 >= MAX_CUSTOM_ARGS_BYTES:
            raise PermanentProviderError(None, "custom_args over SendGrid's 10,000 bytes")
        content = [
            {"type": kind, "value": value}
            for kind, value in (("text/plain", template.text), ("text/html", template.html))
            if value
        ]
        if not content:
            raise PermanentProviderError(None, "the message has neither text nor HTML")
        message: dict[str, Any] = {
            "from": _address(template.from_email, template.from_name),
            "subject": template.subject,
            "content": content,  # text/plain first: SendGrid requires that order
            "custom_args": campaign_args,
        }
        if template.reply_to:
            reply_name, reply_email = parseaddr(template.reply_to)
            message["reply_to"] = _address(reply_email or template.reply_to, reply_name)
        if static_headers:
            message["headers"] = static_headers
        categories = list(dict.fromkeys((*self.categories, *template.categories)))
        if categories:
            message["categories"] = categories[:MAX_CATEGORIES]
        return _Batch(placeholders, per_recipient_headers, message)

    def post(self, payload: dict[str, Any] | bytes) -> str | None:
        """POST the body (dicts, or ``build_body``'s JSON text); the X-Message-Id of SendGrid's
        202, or raise a provider error."""
        try:
            if isinstance(payload, bytes):
                response = self._post_json_text(payload)
            else:
                response = self.client.client.mail.send.post(request_body=payload)
        except HTTPError as err:
            raise _http_error(err) from err
        except ssl.SSLCertVerificationError as err:
            raise PermanentProviderError(
                None, f"SendGrid's certificate was not accepted: {err.verify_message}"
            ) from err
        except URLError as err:
            if isinstance(err.reason, ssl.SSLCertVerificationError):
                raise PermanentProviderError(
                    None, f"SendGrid's certificate was not accepted: {err.reason.verify_message}"
                ) from err
            raise TransientProviderError(f"SendGrid unreachable: {err.reason}") from err
        except TimeoutError as err:
            raise TransientProviderError(f"SendGrid did not answer in {self.timeout} s") from err
        except (OSError, http.client.HTTPException) as err:  # RemoteDisconnected, resets...
            raise TransientProviderError(
                f"connection to SendGrid failed: {type(err).__name__}: {err}"
            ) from err
        if not 200 <= response.status_code < 300:
            raise TransientProviderError(f"SendGrid answered {response.status_code}, not 202")
        message_id = response.headers.get("X-Message-Id")
        return str(message_id) if message_id else None

    def _post_json_text(self, body: bytes) -> Response:
        """What ``client.mail.send.post(request_body=...)`` does, with the body already JSON:
        the sendgrid client's URL, headers (key, User-Agent) and timeout, its ``_make_request``
        (which raises its HTTPError for a 4xx/5xx), and the Content-Type it would set."""
        endpoint = self.client.client.mail.send
        request = urllib.request.Request(
            endpoint._build_url(None),
            data=body,
            headers={**endpoint.request_headers, "Content-Type": "application/json"},
            method="POST",
        )
        return Response(endpoint._make_request(urllib.request.build_opener(), request))


@dataclass(frozen=True)
class _Batch:
    placeholders: set[str]  # every recipient's substitution keys
    per_recipient_headers: list[tuple[str, str]]  # (name, value with placeholders)
    message: dict[str, Any]  # the request's keys after "personalizations", in order


def _address(email: str, name: str) -> dict[str, str]:
    return {"email": email, "name": name} if name else {"email": email}


def _http_error(err: HTTPError) -> Exception:
    status = int(err.status_code)
    headers = err.headers
    message = _error_message(err.body) or f"HTTP {status}"
    if status == 429:
        return RateLimited(_retry_after(headers), f"SendGrid rate limit: {message}")
    if status >= 500 or status == 408:
        return TransientProviderError(f"SendGrid failed ({status}): {message}")
    return PermanentProviderError(status, message, hint=_PERMANENT_HINTS.get(status))


def _error_message(body: bytes | str | None) -> str:
    """SendGrid's ``errors[].message`` joined; empty when the body is not its JSON shape."""
    if not body:
        return ""
    try:
        data = json.loads(body)
        messages = [str(item["message"]) for item in data["errors"] if item.get("message")]
    except (ValueError, KeyError, TypeError, AttributeError):
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
        return text.strip()[:300]
    return "; ".join(messages)


def _retry_after(headers: Any) -> float:
    """Seconds to wait: X-RateLimit-Reset (epoch seconds), else Retry-After, else a default."""
    get = getattr(headers, "get", None)
    if get is None:
        return DEFAULT_RATE_LIMIT_WAIT
    reset = get("X-RateLimit-Reset")
    if reset:
        try:
            return max(0.0, float(reset) - time.time())
        except ValueError:
            pass
    retry_after = get("Retry-After")
    if retry_after:
        try:
            return max(0.0, float(retry_after))
        except ValueError:
            try:
                return max(0.0, parsedate_to_datetime(retry_after).timestamp() - time.time())
            except (TypeError, ValueError):
                pass
    return DEFAULT_RATE_LIMIT_WAIT
