"""Issue 17: the send loop with several messages in flight (``[smtp] connections`` above 1).

Each message is still recorded on its own, exactly once; at most ``connections`` rows are
SENDING at any moment, so a crash duplicates at most that many messages, and counts them.
"""

from __future__ import annotations

import random
import socket
import threading
import time
from collections import Counter
from pathlib import Path
from typing import ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session, sessionmaker

from mailer.delivery.engine import RetryPolicy, Sender
from mailer.delivery.ledger import Ledger
from mailer.delivery.providers.base import PerMessageProvider
from mailer.delivery.providers.outbox import OutboxProvider
from mailer.delivery.types import MessageTemplate, Recipient
from mailer.store.models import DeliveryState, SendState
from mailer.subscribers.segments import Audience
from mailer.workspace import Workspace
from tests.cli_runner import Mailer
from tests.delivery.test_delivery_ledger import TEMPLATE, add_people, values
from tests.delivery.test_delivery_per_message import Crash, states
from tests.delivery.test_engine_logic import FAILED, QUEUED, SENT, Send
from tests.delivery_helpers import SLUG, fill_list, smtp_environment, write_campaign
from tests.fakes.provider import (
    ScriptedPerMessage,
    Step,
    accept,
    permanent,
    rate_limited,
    refuse,
    transient,
)
from tests.fakes.smtp_sink import SmtpSink


class Slow(PerMessageProvider):
    """Each message takes 20 ms; notes how many were in flight and SENDING at once."""

    name: ClassVar[str] = "slow"
    max_batch_size: ClassVar[int] = 1000

    def __init__(self, send: Send, connections: int) -> None:
        self.send, self.connections = send, connections
        self.lock = threading.Lock()
        self.now = self.most = self.most_sending = 0
        self.accepted: Counter[int] = Counter()

    def _send_one(self, template: MessageTemplate, recipient: Recipient) -> str:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
            sending = self.send.store.counts(self.send.run_id)[DeliveryState.SENDING]
            self.most_sending = max(self.most_sending, sending)
        time.sleep(0.02)
        with self.lock:
            self.now -= 1
            assert recipient.subscriber_id is not None
            self.accepted[recipient.subscriber_id] += 1
        return "<id@slow>"


def test_four_connections_keep_four_messages_in_flight_and_no_more_sending() -> None:
    send = Send(24)
    provider = Slow(send, connections=4)
    started = time.perf_counter()
    outcome = send.run(provider, batch_size=10)
    elapsed = time.perf_counter() - started
    assert outcome.finished and outcome.sent == 24
    assert provider.most == 4 and provider.most_sending <= 4
    assert sorted(provider.accepted) == send.ids and set(provider.accepted.values()) == {1}
    assert elapsed < 24 * 0.02  # side by side, not one after another (0.48 s)


def test_a_transient_error_among_messages_in_flight_retries_only_that_message() -> None:
    send = Send(9)
    provider = ScriptedPerMessage(
        {3: transient(), 7: refuse(message="550 5.1.1 unknown")}, connections=3
    )
    outcome = send.run(provider)
    assert outcome.finished and outcome.retries == 1
    assert outcome.sent == 8 and outcome.failed == 1 and provider.duplicates == []
    handed = Counter(ids[0] for ids in provider.requests)
    assert sorted(handed.values()) == [1] * 8 + [2]  # the failed one handed over again, alone


def test_a_permanent_error_in_flight_pauses_after_the_others_are_recorded() -> None:
    send = Send(8)
    provider = ScriptedPerMessage({4: permanent(535, "authentication failed")}, connections=3)
    outcome = send.run(provider)
    assert "authentication failed" in outcome.paused_reason
    assert send.run_state[0] == SendState.PAUSED
    assert send.with_state(SENT) == sorted(provider.accepted)
    assert set(send.states().values()) == {SENT, QUEUED}  # nothing left leased
    resumed = ScriptedPerMessage(connections=3)
    assert send.run(resumed).finished
    assert provider.accepted + resumed.accepted == Counter(dict.fromkeys(send.ids, 1))


def test_a_stop_lets_the_messages_in_flight_finish_and_gives_the_rest_back() -> None:
    send = Send(12)
    asked = iter([False] * 6)  # before the batch, then before each hand-over
    provider = ScriptedPerMessage(connections=3)
    outcome = send.run(provider, should_stop=lambda: next(asked, True))
    assert not outcome.finished and outcome.sent == len(provider.accepted) == 5
    assert set(send.states().values()) == {SENT, QUEUED}
    assert send.run(provider).finished and provider.duplicates == []


PER_MESSAGE = st.one_of(
    st.just(accept()),
    st.just(transient()),
    st.just(rate_limited(1.0)),
    st.builds(permanent, st.sampled_from([421, 535])),
    st.builds(lambda p, b: refuse(permanent=p, bounced=b), st.booleans(), st.booleans()),
)


@settings(max_examples=80, deadline=None)
@given(
    count=st.integers(1, 9),
    batch=st.integers(1, 5),
    connections=st.integers(2, 4),
    script=st.dictionaries(st.integers(1, 20), PER_MESSAGE, max_size=8),
)
def test_whatever_each_message_gets_nobody_twice_and_resumes_finish(
    count: int, batch: int, connections: int, script: dict[int, Step]
) -> None:
    """Property: through any answers to any messages, in whatever order the threads take them,
    no one is accepted twice, SENT is exactly what the provider accepted, a pause leaves nothing
    leased, and resuming ends with everyone sent or refused for good."""
    send = Send(count)
    provider = ScriptedPerMessage(script, connections=connections)
    for _ in range(len(script) + 3):
        outcome = send.run(
            provider, batch_size=batch, retry=RetryPolicy(max_attempts=2, rng=random.Random(1))
        )
        assert provider.duplicates == []
        assert send.with_state(SENT) == sorted(provider.accepted)
        counts = send.store.counts(send.run_id)
        assert counts[DeliveryState.CLAIMED] == counts[DeliveryState.SENDING] == 0
        if outcome.finished:
            break
    assert outcome.finished
    assert set(send.states().values()) <= {SENT, FAILED}


class CrashingOutbox(OutboxProvider):
    """The real outbox, three messages at a time; the process dies when its ``crash_after``-th
    message is written (the others in flight finish, unrecorded, as SIGKILL might find them)."""

    connections = 3

    def __init__(self, root: Path, crash_after: int) -> None:
        super().__init__(root)
        self.crash_after = crash_after
        self.written: list[int | None] = []
        self.lock = threading.Lock()

    def _send_one(self, template: MessageTemplate, recipient: Recipient) -> str:
        message_id = super()._send_one(template, recipient)
        with self.lock:
            self.written.append(recipient.subscriber_id)
            crash = len(self.written) == self.crash_after
        if crash:
            raise Crash
        return message_id


@pytest.mark.both_databases
def test_a_crash_with_three_in_flight_sends_again_at_most_those_three(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    ids = add_people(sessions, 60)
    dead = f"{socket.gethostname()}:999999999"  # a process of this host that no longer exists
    crashed = Ledger(sessions, owner=dead)
    run, _ = crashed.start(TEMPLATE.campaign_slug, TEMPLATE, Audience())
    first = CrashingOutbox(tmp_path, crash_after=37)
    with pytest.raises(Crash):
        Sender(crashed, first, values, batch_size=50).run(run.id, TEMPLATE)
    left = states(sessions)
    assert 1 <= left[DeliveryState.SENDING] <= 3
    assert left[DeliveryState.SENT] >= 37 - 3 and left[DeliveryState.QUEUED] == 10

    resumed = Ledger(sessions)
    second = CrashingOutbox(tmp_path, crash_after=0)
    outcome = Sender(resumed, second, values, batch_size=50).run(run.id, TEMPLATE)
    assert outcome.finished and outcome.reclaimed == left[DeliveryState.SENDING]
    got = Counter(first.written + second.written)
    assert set(got) == set(ids)
    twice = [sid for sid, n in got.items() if n > 1]
    assert 1 <= len(twice) <= outcome.reclaimed  # only rows SENDING at the crash, counted
    assert resumed.get_run(run.id).possible_duplicates == outcome.reclaimed


@pytest.mark.slow
def test_mailer_send_over_four_connections_to_smtp_sink_sends_everyone_once(
    mailer: Mailer,
    workspace: Workspace,
    sessions: sessionmaker[Session],
    database_url: str,
    tmp_path: Path,
) -> None:
    emails = fill_list(sessions, tmp_path, 120)
    with SmtpSink() as sink:
        env = {**smtp_environment(database_url, sink.port, batch_size=50)}
        env["MAILER_SMTP__CONNECTIONS"] = "4"
        write_campaign(workspace, sessions, env)
        result = mailer("send", SLUG, "--yes", env=env, process=True)
        assert result.exit_code == 0, result.stdout + result.stderr
        assert "120 sent" in result.stdout
        assert sink.recipients() == Counter(dict.fromkeys(emails, 1))
        assert 1 < sink.sessions() <= 4  # the setting reached the provider
