"""A fake SendGrid v3 Mail Send API on loopback, strict about the limits the real one enforces.

    with FakeSendGrid(api_key="SG.test") as server:
        provider = SendGridProvider("SG.test", api_host=server.url)
        ...
        assert server.recipient_count() == 1000

It checks each POST /v3/mail/send body against the request schema of SendGrid's published spec
(tests/fakes/sendgrid-oai/tsg_mail_v3.validator.json: twilio/sendgrid-oai's spec with the fixes
its README lists), and the limits the spec does not
express: at most 1,000 recipients (to+cc+bcc) per request, an address once per request,
custom_args under 10,000 bytes per personalization (message-level ones included), send_at at
most 72 h ahead, no reserved header names, text/plain before text/html. A wrong or missing
Bearer key is a 401 in SendGrid's error shape. Accepted requests get a 202 with X-Message-Id
and are recorded per recipient.

Faults for the next N requests (``fail_next``, ``rate_limit_next``, ``slow_next``,
``drop_next``) or at random with a seeded probability (``fail_randomly``).

Schema validation of a 1,000-personalization body with jsonschema takes ~50-100 ms, so
``schema_validation="sample"`` validates the body with only its first and last few
personalizations (every personalization still gets the cheap type and limit checks);
"full" (the default) validates all of it.
"""

from __future__ import annotations

import json
import random
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal

from jsonschema import Draft7Validator

SPEC_PATH = Path(__file__).resolve().parent / "sendgrid-oai" / "tsg_mail_v3.validator.json"
MAX_RECIPIENTS = 1000
MAX_CUSTOM_ARGS_BYTES = 10_000
MAX_SEND_AT_AHEAD = 72 * 3600
# Written out here, not imported from the provider, so a mistake there is caught here.
RESERVED_HEADERS = frozenset(
    {
        "x-sg-id",
        "x-sg-eid",
        "received",
        "dkim-signature",
        "content-type",
        "content-transfer-encoding",
        "to",
        "from",
        "subject",
        "reply-to",
        "cc",
        "bcc",
    }
)
SAMPLE_EDGE = 5  # personalizations validated at each end in "sample" mode

FaultKind = Literal["status", "slow", "drop"]


@dataclass(frozen=True)
class Fault:
    """How to misbehave for one request. ``status`` 429 adds X-RateLimit-Reset."""

    kind: FaultKind
    status: int = 500
    delay: float = 0.0
    reset_in: float = 1.0  # 429: X-RateLimit-Reset = now + reset_in (epoch seconds)
    retry_after: float | None = None  # 429: also send Retry-After


@dataclass(frozen=True)
class AcceptedRecipient:
    email: str
    name: str
    substitutions: dict[str, str]
    custom_args: dict[str, str]
    subject: str
    headers: dict[str, str]
    message_id: str


@dataclass
class _FaultPlan:
    queue: list[list[Any]] = field(default_factory=list)  # [Fault, remaining count]
    probability: float = 0.0
    random_faults: tuple[Fault, ...] = ()
    rng: random.Random = field(default_factory=random.Random)

    def next(self) -> Fault | None:
        if self.queue:
            entry = self.queue[0]
            entry[1] -= 1
            if entry[1] <= 0:
                self.queue.pop(0)
            fault: Fault = entry[0]
            return fault
        if self.probability and self.rng.random() < self.probability:
            return self.rng.choice(self.random_faults)
        return None


def load_request_schema(spec_path: Path = SPEC_PATH) -> dict[str, Any]:
    """The request body schema of POST /v3/mail/send, with its $refs inlined (faster)."""
    document = json.loads(spec_path.read_text(encoding="utf-8"))

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                target: Any = document
                for part in node["$ref"].removeprefix("#/").split("/"):
                    target = target[part]
                rest = {key: value for key, value in node.items() if key != "$ref"}
                return {**inline(target), **inline(rest)}
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    body = document["paths"]["/v3/mail/send"]["post"]["requestBody"]
    schema: dict[str, Any] = inline(body)["content"]["application/json"]["schema"]
    return schema


_VALIDATOR: Draft7Validator | None = None
_VALIDATOR_LOCK = threading.Lock()


def request_validator() -> Draft7Validator:
    """One compiled validator for the process (building it costs more than using it)."""
    global _VALIDATOR
    with _VALIDATOR_LOCK:
        if _VALIDATOR is None:
            schema = load_request_schema()
            Draft7Validator.check_schema(schema)
            _VALIDATOR = Draft7Validator(schema)
        return _VALIDATOR


def schema_errors(body: Any) -> list[str]:
    """Every way ``body`` breaks the Mail Send request schema, as "path: message" lines."""
    problems = []
    for error in request_validator().iter_errors(body):
        where = ".".join(str(part) for part in error.absolute_path) or "(body)"
        problems.append(f"{where}: {_short(error.message)}")
    return problems


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class RequestRefused(Exception):
    def __init__(self, message: str, field: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.status = status


def check_limits(body: dict[str, Any], now: float | None = None) -> None:
    """The limits SendGrid enforces that its schema does not say. RequestRefused if broken."""
    now = time.time() if now is None else now
    _check_headers(body.get("headers"), "headers")
    _check_send_at(body.get("send_at"), "send_at", now)
    content = body.get("content") or []
    types = [item.get("type") for item in content if isinstance(item, dict)]
    if "text/plain" in types and types.index("text/plain") != 0:
        raise RequestRefused(
            "If present, text/plain must be first, followed by text/html", "content"
        )
    message_args = body.get("custom_args") or {}
    seen: set[str] = set()
    total = 0
    for index, personalization in enumerate(body["personalizations"]):
        where = f"personalizations.{index}"
        if not isinstance(personalization, dict):
            raise RequestRefused("each personalization must be an object", where)
        for kind in ("to", "cc", "bcc"):
            people = personalization.get(kind) or []
            if not isinstance(people, list):
                raise RequestRefused(f"{kind} must be an array", f"{where}.{kind}")
            for person in people:
                email = person.get("email") if isinstance(person, dict) else None
                if not isinstance(email, str) or "@" not in email:
                    raise RequestRefused("Does not contain a valid address.", f"{where}.{kind}")
                lowered = email.lower()
                if lowered in seen:
                    raise RequestRefused(
                        "Each email address in the personalization block should be unique "
                        "between to, cc, and bcc. We found the first duplicate instance of "
                        f"[{email}] in the {where}.{kind} field.",
                        f"{where}.{kind}",
                    )
                seen.add(lowered)
            total += len(people)
        if total > MAX_RECIPIENTS:
            raise RequestRefused(
                f"The total number of recipients must be no more than {MAX_RECIPIENTS}.",
                "personalizations",
            )
        for name in ("substitutions", "custom_args", "headers"):
            values = personalization.get(name)
            if values is not None and not (
                isinstance(values, dict) and all(isinstance(v, str) for v in values.values())
            ):
                raise RequestRefused(f"{name} values must be strings", f"{where}.{name}")
        _check_headers(personalization.get("headers"), f"{where}.headers")
        _check_send_at(personalization.get("send_at"), f"{where}.send_at", now)
        args = {**message_args, **(personalization.get("custom_args") or {})}
        if args and len(json.dumps(args, separators=(",", ":")).encode("utf-8")) >= (
            MAX_CUSTOM_ARGS_BYTES
        ):
            raise RequestRefused(
                f"The custom_args of a personalization must total less than "
                f"{MAX_CUSTOM_ARGS_BYTES} bytes.",
                f"{where}.custom_args",
            )


def _check_headers(headers: Any, where: str) -> None:
    for name in headers or {}:
        if str(name).lower() in RESERVED_HEADERS:
            raise RequestRefused(
                f"The header {name!r} is reserved and cannot be set in headers.", where
            )


def _check_send_at(send_at: Any, where: str, now: float) -> None:
    if isinstance(send_at, int) and send_at > now + MAX_SEND_AT_AHEAD:
        raise RequestRefused("send_at cannot be scheduled more than 72 hours in advance.", where)


class FakeSendGrid:
    """The fake server; a context manager that starts and stops it on 127.0.0.1."""

    def __init__(
        self,
        api_key: str = "SG.fake-key",
        *,
        schema_validation: Literal["full", "sample"] = "full",
        keep_payloads: bool = False,
    ) -> None:
        self.api_key = api_key
        self.schema_validation = schema_validation
        self.keep_payloads = keep_payloads
        self.accepted: list[AcceptedRecipient] = []
        self.payloads: list[dict[str, Any]] = []
        self.message_ids: list[str] = []
        self.requests = 0
        self.refusals: list[tuple[int, str]] = []  # (status, message) of each non-202 answer
        self._faults = _FaultPlan()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        request_validator()  # compile once, before the first request

    # -- life ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None, "not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FakeSendGrid:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        # stop() returns at the server's next poll: 0.5 s by default, paid by every test.
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.02,), daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeSendGrid:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- faults ----------------------------------------------------------------------------

    def fail_next(self, count: int = 1, status: int = 500) -> None:
        self._queue(Fault("status", status=status), count)

    def rate_limit_next(
        self, count: int = 1, reset_in: float = 1.0, retry_after: float | None = None
    ) -> None:
        self._queue(Fault("status", status=429, reset_in=reset_in, retry_after=retry_after), count)

    def slow_next(self, count: int = 1, delay: float = 1.0) -> None:
        """Answer (and accept) only after ``delay`` seconds."""
        self._queue(Fault("slow", delay=delay), count)

    def drop_next(self, count: int = 1) -> None:
        """Read the request, then close the connection without an answer."""
        self._queue(Fault("drop"), count)

    def fail_randomly(self, probability: float, faults: list[Fault], seed: int = 0) -> None:
        with self._lock:
            self._faults.probability = probability
            self._faults.random_faults = tuple(faults)
            self._faults.rng = random.Random(seed)

    def _queue(self, fault: Fault, count: int) -> None:
        with self._lock:
            self._faults.queue.append([fault, count])

    # -- what happened ---------------------------------------------------------------------

    def recipient_count(self) -> int:
        with self._lock:
            return len(self.accepted)

    def emails(self) -> list[str]:
        with self._lock:
            return [item.email for item in self.accepted]

    def reset(self) -> None:
        with self._lock:
            self.accepted.clear()
            self.payloads.clear()
            self.message_ids.clear()
            self.refusals.clear()
            self.requests = 0
            self._faults = _FaultPlan()

    # -- the endpoint ----------------------------------------------------------------------

    def next_fault(self) -> Fault | None:
        with self._lock:
            self.requests += 1
            return self._faults.next()

    def check(self, body: Any) -> None:
        if not isinstance(body, dict):
            raise RequestRefused("The request body must be a JSON object.")
        if isinstance(body.get("personalizations"), list):
            check_limits(body)  # first: its messages are SendGrid's, clearer than the schema's
        if self.schema_validation == "full":
            problems = schema_errors(body)
        else:
            people = body.get("personalizations")
            sample = body
            if isinstance(people, list) and len(people) > 2 * SAMPLE_EDGE:
                sample = {
                    **body,
                    "personalizations": people[:SAMPLE_EDGE] + people[-SAMPLE_EDGE:],
                }
            problems = schema_errors(sample)
        if problems:
            raise RequestRefused("; ".join(problems[:5]), "(schema)")

    def record(self, body: dict[str, Any]) -> str:
        message_id = secrets.token_urlsafe(16)
        message_args = body.get("custom_args") or {}
        message_headers = body.get("headers") or {}
        subject = body.get("subject", "")
        accepted = []
        for personalization in body["personalizations"]:
            args = {**message_args, **(personalization.get("custom_args") or {})}
            headers = {**message_headers, **(personalization.get("headers") or {})}
            values = personalization.get("substitutions") or {}
            for kind in ("to", "cc", "bcc"):
                for person in personalization.get(kind) or []:
                    accepted.append(
                        AcceptedRecipient(
                            email=person["email"],
                            name=person.get("name", ""),
                            substitutions=values,
                            custom_args=args,
                            subject=personalization.get("subject", subject),
                            headers=headers,
                            message_id=message_id,
                        )
                    )
        with self._lock:
            self.accepted.extend(accepted)
            self.message_ids.append(message_id)
            if self.keep_payloads:
                self.payloads.append(body)
        return message_id

    def refused(self, status: int, message: str) -> None:
        with self._lock:
            self.refusals.append((status, message))


class _Handler(BaseHTTPRequestHandler):
    fake: FakeSendGrid
    server_version = "FakeSendGrid/1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self.path.rstrip("/") != "/v3/mail/send":
            self._error(404, "not found", None)
            return
        authorization = self.headers.get("Authorization") or ""
        if not authorization:
            self._error(401, "authorization required", None)
            return
        if authorization != f"Bearer {self.fake.api_key}":
            self._error(
                401, "The provided authorization grant is invalid, expired, or revoked", None
            )
            return
        fault = self.fake.next_fault()
        if fault is not None:
            if fault.kind == "drop":
                self.close_connection = True
                return
            if fault.kind == "status":
                self._fault_status(fault)
                return
            time.sleep(fault.delay)
        try:
            body = json.loads(raw)
        except ValueError:
            self._error(400, "Bad Request", None)
            return
        try:
            self.fake.check(body)
        except RequestRefused as refusal:
            self._error(refusal.status, refusal.message, refusal.field)
            return
        message_id = self.fake.record(body)
        self.send_response(202)
        self.send_header("X-Message-Id", message_id)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _fault_status(self, fault: Fault) -> None:
        headers: dict[str, str] = {}
        if fault.status == 429:
            headers["X-RateLimit-Limit"] = "600"
            headers["X-RateLimit-Remaining"] = "0"
            headers["X-RateLimit-Reset"] = str(int(time.time() + fault.reset_in))
            if fault.retry_after is not None:
                headers["Retry-After"] = str(int(fault.retry_after))
            self._error(429, "too many requests", None, headers)
        else:
            self._error(fault.status, "Internal server error", None)

    def _error(
        self,
        status: int,
        message: str,
        field_name: str | None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.fake.refused(status, message)
        data = json.dumps(
            {"errors": [{"message": message, "field": field_name, "help": None}]}
        ).encode("utf-8")
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@contextmanager
def running(api_key: str = "SG.fake-key", **options: Any) -> Iterator[FakeSendGrid]:
    with FakeSendGrid(api_key, **options) as server:
        yield server
