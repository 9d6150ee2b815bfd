"""delivery.rate_per_second is a cap over every one-second window, not an average."""

from __future__ import annotations

import itertools
import math
import random
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session, sessionmaker

from mailer.delivery.engine import RateLimiter, RetryPolicy, Sender
from mailer.delivery.ledger import Ledger
from mailer.delivery.providers.base import (
    BatchResult,
    Provider,
    RateLimited,
    TransientProviderError,
)
from mailer.delivery.providers.outbox import OutboxProvider
from mailer.delivery.types import MessageTemplate, Recipient
from mailer.store.db import make_engine, session_factory, upgrade_schema
from mailer.subscribers.segments import Audience
from mailer.workspace import Workspace
from tests.cli_runner import Mailer
from tests.delivery.test_delivery_ledger import TEMPLATE, values
from tests.delivery_helpers import SLUG, fill_list, smtp_environment, write_campaign
from tests.fakes.smtp_server import FakeSmtp


class FakeClock:
    """Time that passes only when someone sleeps or a provider takes its time."""

    def __init__(self) -> None:
        self.now = 0.0
        self.lock = threading.Lock()

    def __call__(self) -> float:
        with self.lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.now += max(0.0, seconds)


Fault = str | None  # None, "transient" or "rate limited"


class TimedRequests(Provider):
    """A batch provider (one request per batch, as SendGrid) that notes when each request is
    handed over and how many it holds, takes its drawn time, and sometimes fails."""

    name = "timed"
    max_batch_size = 1000

    def __init__(self, clock: FakeClock, durations: Sequence[float], faults: Sequence[Fault]):
        self.clock = clock
        self.durations = itertools.cycle(durations)
        self.faults = itertools.cycle(faults)
        self.handed: list[tuple[float, int]] = []
        self.accepted: list[int | None] = []

    def _send(self, template: MessageTemplate, recipients: Sequence[Recipient]) -> BatchResult:
        self.handed.append((self.clock(), len(recipients)))
        self.clock.sleep(next(self.durations))
        _raise(next(self.faults))
        result = BatchResult(provider_message_id="x")
        for recipient in recipients:
            result.accept(recipient, "x")
            self.accepted.append(recipient.subscriber_id)
        return result


class TimedOutbox(OutboxProvider):
    """The real outbox, noting when each message is handed over; takes its drawn time."""

    def __init__(
        self, root: Path, clock: FakeClock, durations: Sequence[float], faults: Sequence[Fault]
    ) -> None:
        super().__init__(root)
        self.clock = clock
        self.durations = itertools.cycle(durations)
        self.faults = itertools.cycle(faults)
        self.handed: list[tuple[float, int]] = []
        self.accepted: list[int | None] = []

    def _send_one(self, template: MessageTemplate, recipient: Recipient) -> str:
        self.handed.append((self.clock(), 1))
        self.clock.sleep(next(self.durations))
        _raise(next(self.faults))
        message_id = super()._send_one(template, recipient)
        self.accepted.append(recipient.subscriber_id)
        return message_id


def _raise(fault: Fault) -> None:
    if fault == "transient":
        raise TransientProviderError("provider fault")
    if fault == "rate limited":
        raise RateLimited(0.3)


def most_in_any_window(handed: list[tuple[float, int]], window: float) -> int:
    """The most recipients handed over within any ``window`` seconds (less a nanosecond)."""
    return max(
        (sum(n for t, n in handed if start <= t < start + window - 1e-9) for start, _ in handed),
        default=0,
    )


def test_the_limiter_lets_ten_go_per_second_and_no_more() -> None:
    """Issue 10 item 5: at rate_per_second = 10, 30 recipients take three one-second windows
    of ten; no request may hold more than the cap."""
    clock = FakeClock()
    limiter = RateLimiter(10, clock=clock, sleep=clock.sleep)
    times = []
    for _ in range(30):
        limiter.wait_for(1)
        times.append(clock())
    assert times == [0.0] * 10 + [1.0] * 10 + [2.0] * 10
    with pytest.raises(ValueError):
        limiter.wait_for(11)


@pytest.fixture(scope="module")
def ledger_sessions(tmp_path_factory: pytest.TempPathFactory) -> sessionmaker[Session]:
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('rate') / 'rate.db'}")
    upgrade_schema(engine)
    return session_factory(engine)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    rate=st.one_of(st.integers(1, 25).map(float), st.floats(0.2, 25.0)),
    batch_size=st.integers(1, 60),
    people=st.integers(1, 30),
    durations=st.lists(st.floats(0.0, 1.7), min_size=1, max_size=8),
    faults=st.lists(st.sampled_from([None, None, None, "transient", "rate limited"]), max_size=6),
    per_message=st.booleans(),
)
@pytest.mark.slow
def test_no_one_second_window_ever_holds_more_than_the_rate(
    ledger_sessions: sessionmaker[Session],
    tmp_path_factory: pytest.TempPathFactory,
    rate: float,
    batch_size: int,
    people: int,
    durations: list[float],
    faults: list[Fault],
    per_message: bool,
) -> None:
    """Issue 10 item 5, property: for any rate, batch size, provider timing and faults (with
    retries), no one-second window holds more than `rate` recipients handed to the provider
    (below one per second: no 1/rate seconds hold more than one), with batch (SendGrid-like)
    and per-message (outbox) providers alike; and everyone is still sent exactly once."""
    tag = f"t{uuid.uuid4().hex[:12]}"
    _add_tagged(ledger_sessions, people, tag)
    ledger = Ledger(ledger_sessions)
    template = MessageTemplate(**{**TEMPLATE.__dict__, "campaign_slug": tag})
    run, _ = ledger.start(tag, template, Audience(any_of=[tag]))
    clock = FakeClock()
    provider: TimedRequests | TimedOutbox
    if per_message:
        root = tmp_path_factory.mktemp("outbox")
        provider = TimedOutbox(root, clock, durations, [*faults, None])
    else:
        provider = TimedRequests(clock, durations, [*faults, None])
    sender = Sender(
        ledger,
        provider,
        values,
        batch_size=batch_size,
        rate_per_second=rate,
        retry=RetryPolicy(max_attempts=50, base_seconds=0.05, rng=random.Random(3)),
        sleep=clock.sleep,
    )
    sender.limiter.clock = clock
    outcome = sender.run(run.id, template)

    assert outcome.finished, outcome.paused_reason
    assert sorted(provider.accepted) == sorted(set(provider.accepted))
    assert len(provider.accepted) == people
    if rate >= 1:
        assert most_in_any_window(provider.handed, 1.0) <= rate
    else:
        assert most_in_any_window(provider.handed, 1 / rate) <= 1
    assert max(n for _, n in provider.handed) <= max(1, math.floor(rate))


def test_batches_of_500_at_ten_per_second_go_ten_at_a_time(
    ledger_sessions: sessionmaker[Session],
) -> None:
    """Issue 10 item 5: with batches of 500 at rate_per_second = 10, 30 recipients went in one
    request at once (then the limiter slept 3 s); now each second's request holds ten."""
    tag = f"t{uuid.uuid4().hex[:12]}"
    _add_tagged(ledger_sessions, 30, tag)
    ledger = Ledger(ledger_sessions)
    run, _ = ledger.start(tag, TEMPLATE, Audience(any_of=[tag]))
    clock = FakeClock()
    provider = TimedRequests(clock, [0.0], [None])
    sender = Sender(ledger, provider, values, batch_size=500, rate_per_second=10, sleep=clock.sleep)
    sender.limiter.clock = clock
    assert sender.run(run.id, TEMPLATE).finished
    assert provider.handed == [(0.0, 10), (1.0, 10), (2.0, 10)]


def _add_tagged(sessions: sessionmaker[Session], count: int, tag: str) -> None:
    from mailer.subscribers.service import add_subscriber

    with sessions() as session, session.begin():
        for n in range(count):
            add_subscriber(session, f"{tag}-{n}@example.com", first_name=f"P{n}", tags=[tag])


@pytest.mark.slow
def test_a_real_send_at_ten_per_second_never_goes_faster(
    mailer: Mailer,
    workspace: Workspace,
    sessions: sessionmaker[Session],
    database_url: str,
    tmp_path: Path,
) -> None:
    """Issue 10 item 5, end to end: `mailer send` at rate_per_second = 10 with batches of 500
    to a real SMTP server: no second sees more than ten messages arrive, and the whole send
    takes its three seconds instead of leaving in one burst."""
    emails = fill_list(sessions, tmp_path, 35)
    write_campaign(workspace, sessions, smtp_environment(database_url, 25))  # base_url renders
    with FakeSmtp() as server:
        env = smtp_environment(database_url, server.port, batch_size=500)
        env["MAILER_DELIVERY__RATE_PER_SECOND"] = "10"
        result = mailer("send", SLUG, "--yes", env=env, process=True)
        assert result.exit_code == 0, result.stdout + result.stderr
        messages = server.messages
    assert sorted(m.rcpt_tos[0] for m in messages) == sorted(emails)
    arrivals = [(m.received_at, 1) for m in messages]
    # Arrival times carry the loopback's jitter; 0.9 s windows leave it 100 ms.
    assert most_in_any_window(arrivals, 0.9) <= 10
    assert max(t for t, _ in arrivals) - min(t for t, _ in arrivals) >= 2.9
