"""Every event source behind ``POST /webhooks/{source}`` (events/sources/): an unknown name is a
404; a request is verified before anything of its body is parsed; a source that cannot verify
(no key) accepts nothing; what a source parses is stored under its name. Through a real server.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select

from mailer.config import Settings
from mailer.events.sources import SOURCES
from mailer.events.sources.base import (
    ParsedBatch,
    PayloadError,
    ProviderEvent,
    SignatureError,
    SourceConfigError,
)
from mailer.store.db import open_database
from mailer.store.models import Event
from mailer.web.app import create_app
from mailer.workspace import Workspace
from tests.web_server import LiveServer, serve

NOT_JSON = b"\x00{not json"


def sendgrid_key(monkeypatch: pytest.MonkeyPatch) -> None:
    der = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    monkeypatch.setenv("MAILER_SENDGRID__WEBHOOK_PUBLIC_KEY", base64.b64encode(der).decode())


# How each registered source gets a working key: a new source must be added here too.
CONFIGURE = {"sendgrid": sendgrid_key}


class RecordingSource:
    """A source as a new provider's would be, noting which of its steps ran."""

    name = "recording"
    steps: list[str] = []  # noqa: RUF012 - shared by the instances the route builds

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def verify(self, headers: Mapping[str, str], body: bytes) -> None:
        self.steps.append("verify")
        if headers.get("x-signature") != "good":
            raise SignatureError("signature does not match")

    def parse(self, body: bytes) -> ParsedBatch:
        self.steps.append("parse")
        try:
            items = json.loads(body)
        except ValueError as err:
            raise PayloadError("the body is not JSON") from err
        return ParsedBatch(
            self.name,
            [ProviderEvent("opened", item, None, None, "", None, {"id": item}) for item in items],
            received=len(items),
        )


@pytest.fixture
def recording(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """RecordingSource registered as /webhooks/recording (as a new source's module would be)."""
    monkeypatch.setitem(SOURCES, RecordingSource.name, RecordingSource)
    RecordingSource.steps = []
    yield RecordingSource.steps


@pytest.fixture
def server(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveServer]:
    for configure in CONFIGURE.values():
        configure(monkeypatch)
    yield from serve(Workspace(workspace.root))


def stored(workspace: Workspace) -> list[tuple[str, str | None]]:
    engine, sessions = open_database(workspace.database_url)
    with sessions() as session:
        rows = session.execute(select(Event.source, Event.source_event_id)).all()
    engine.dispose()
    return [(source, event_id) for source, event_id in rows]


def test_every_registered_source_has_a_way_to_be_configured_here() -> None:
    assert set(CONFIGURE) == set(SOURCES)


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_an_unsigned_request_is_refused_before_its_body_is_read_as_events(
    server: LiveServer, name: str
) -> None:
    """Not JSON and not signed: a 403 (the signature is checked first), never a 400."""
    response = httpx.post(f"{server.url}/webhooks/{name}", content=NOT_JSON)
    assert response.status_code == 403, response.text
    assert stored(server.workspace) == []


def test_an_unknown_source_is_a_404_and_stores_nothing(server: LiveServer) -> None:
    for name in ("mailgun", "SENDGRID", "sendgrid2", "x" * 300):
        response = httpx.post(f"{server.url}/webhooks/{name}", content=b"[]")
        assert response.status_code == 404, (name, response.text)
    assert stored(server.workspace) == []


def test_a_source_verifies_then_parses_and_its_events_are_stored_under_its_name(
    server: LiveServer, recording: list[str]
) -> None:
    url = f"{server.url}/webhooks/recording"
    refused = httpx.post(url, content=b'["e1"]', headers={"x-signature": "forged"})
    assert refused.status_code == 403 and recording == ["verify"]  # never parsed
    bad = httpx.post(url, content=NOT_JSON, headers={"x-signature": "good"})
    assert bad.status_code == 400 and recording == ["verify", "verify", "parse"]
    good = httpx.post(url, content=b'["e1", "e2", "e1"]', headers={"x-signature": "good"})
    assert good.status_code == 200, good.text
    assert good.json() == {
        "received": 3,
        "stored": 2,
        "duplicates": 1,
        "ignored": 0,
        "suppressed": 0,
        "skipped": 0,
    }
    assert sorted(stored(server.workspace)) == [("recording", "e1"), ("recording", "e2")]


def unconfigured(settings: Settings) -> RecordingSource:
    raise SourceConfigError("recording.key is not set: copy it from the provider's settings")


def test_a_source_that_cannot_verify_accepts_nothing(
    server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its key missing or broken: a 503 (the provider retries later), nothing read or stored."""
    monkeypatch.setitem(SOURCES, "recording", unconfigured)
    response = httpx.post(
        f"{server.url}/webhooks/recording", content=b'["e1"]', headers={"x-signature": "good"}
    )
    assert response.status_code == 503 and "recording.key" in response.text
    assert stored(server.workspace) == []


def route_paths(routes: Sequence[Any]) -> list[str]:
    """The app's paths in matching order (an included router's routes where it was included)."""
    paths: list[str] = []
    for route in routes:
        included = getattr(route, "original_router", None)  # FastAPI >= 0.16x: included lazily
        if included is not None:
            paths.extend(route_paths(included.routes))
        else:
            paths.append(getattr(route, "path", ""))
    return paths


def test_no_fixed_webhook_route_is_shadowed_by_the_source_route(workspace: Workspace) -> None:
    """/webhooks/{source} matches every /webhooks/<name>: a fixed route (a booking webhook)
    must come before it in the app, or it would never be reached."""
    paths = route_paths(create_app(workspace, host="127.0.0.1").routes)
    catch_all = paths.index("/webhooks/{source}")
    fixed = [n for n, path in enumerate(paths) if path.startswith("/webhooks/") and n != catch_all]
    assert all(n < catch_all for n in fixed), paths
