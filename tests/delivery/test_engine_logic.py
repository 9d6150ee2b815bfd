"""The send loop's own logic (retry, rate limits, pause, partial batches, refusals, stops) on
the in-memory ledger and scripted providers: milliseconds per test, no database, no network.

What the SQL ledger adds (claims across processes, crashes, SKIP LOCKED) is in
tests/contract/ and the delivery tests that run the real ledger; the rules the two ledgers
share are the same there, so what holds here holds on SQLite and PostgreSQL.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from mailer.delivery.engine import RetryPolicy, Sender, SendOutcome
from mailer.delivery.ports import ClaimedRecipient
from mailer.delivery.providers.base import Provider, RecipientFailure
from mailer.delivery.types import MessageTemplate
from mailer.store.models import DeliveryState, SendState, SubscriberStatus
from tests.fakes.ledger import MemoryStore
from tests.fakes.provider import (
    ScriptedPerMessage,
    ScriptedProvider,
    Step,
    accept,
    partial,
    permanent,
    rate_limited,
    refuse,
    transient,
)

TEMPLATE = MessageTemplate(
    campaign_slug="week-12",
    from_email="news@clinic.example",
    subject="Hello %%first_name%%",
    html="<p>Hello %%first_name%%</p>",
    text="Hello %%first_name%%",
)
SENT, QUEUED, FAILED = DeliveryState.SENT, DeliveryState.QUEUED, DeliveryState.FAILED


def values(person: ClaimedRecipient) -> dict[str, str]:
    return {"%%first_name%%": person.first_name}


@dataclass
class Send:
    """A store with ``count`` people and a started run, and the sleeps the engine asked for."""

    count: int
    store: MemoryStore = field(default_factory=MemoryStore)
    sleeps: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.ids = self.store.add_people(self.count)
        self.run_id = self.store.start()

    def run(self, provider: Provider, **kwargs: Any) -> SendOutcome:
        kwargs.setdefault("batch_size", self.count)
        kwargs.setdefault("retry", RetryPolicy(rng=random.Random(7)))
        sender = Sender(self.store.ledger(), provider, values, sleep=self.sleeps.append, **kwargs)
        return sender.run(self.run_id, TEMPLATE)

    def states(self) -> dict[int, str]:
        return self.store.states(self.run_id)

    def with_state(self, state: str) -> list[int]:
        return [sid for sid, s in self.states().items() if s == state]

    @property
    def run_state(self) -> tuple[str, str]:
        run = self.store.runs[self.run_id]
        return run.state, run.pause_reason


# -- a batch provider (one request per batch, as SendGrid) --------------------------------------


def test_transient_twice_then_accept_sends_everyone_once() -> None:
    send = Send(5)
    provider = ScriptedProvider([transient(), transient(), accept()])
    outcome = send.run(provider)
    assert outcome.finished and outcome.sent == 5 and outcome.retries == 2
    assert provider.requests == [send.ids] * 3  # the same batch, retried whole
    assert provider.duplicates == [] and sorted(provider.accepted) == send.ids
    # Full-jitter backoff: attempt n waits at most base * 2**n (0.5 s base).
    assert len(send.sleeps) == 2 and send.sleeps[0] <= 1.0 and send.sleeps[1] <= 2.0
    assert send.with_state(SENT) == send.ids and send.run_state == (SendState.FINISHED, "")


def test_transient_until_the_attempts_run_out_pauses_and_a_resume_sends_once() -> None:
    send = Send(5)
    outcome = send.run(ScriptedProvider([transient("502 Bad Gateway")] * 3), retry=RetryPolicy(3))
    assert not outcome.finished and outcome.sent == 0 and outcome.retries == 3
    assert outcome.paused_reason == "3 attempts failed; last: 502 Bad Gateway"
    assert send.run_state == (SendState.PAUSED, outcome.paused_reason)
    assert send.with_state(QUEUED) == send.ids  # given back, not left leased
    assert len(send.sleeps) == 2  # no wait after the last attempt: it pauses at once

    again = ScriptedProvider()
    resumed = send.run(again)
    assert resumed.finished and resumed.sent == 5 and again.requests == [send.ids]


def test_a_permanent_error_pauses_at_once_without_a_retry() -> None:
    send = Send(4)
    provider = ScriptedProvider([permanent(401, "The provided authorization grant is invalid")])
    outcome = send.run(provider)
    assert outcome.retries == 0 and send.sleeps == [] and len(provider.requests) == 1
    assert "(401)" in outcome.paused_reason and "authorization grant" in outcome.paused_reason
    assert send.with_state(QUEUED) == send.ids and send.run_state[0] == SendState.PAUSED


def test_partial_then_permanent_keeps_the_accepted_and_pauses_with_the_rest_queued() -> None:
    send = Send(6)
    provider = ScriptedProvider([partial(2, then=permanent(413, "payload too large"))])
    outcome = send.run(provider)
    assert outcome.sent == 2 and "payload too large" in outcome.paused_reason
    assert send.with_state(SENT) == send.ids[:2] and send.with_state(QUEUED) == send.ids[2:]

    again = ScriptedProvider()
    assert send.run(again).finished
    assert again.requests == [send.ids[2:]]  # the two accepted ones are never sent again
    assert provider.accepted + again.accepted == dict.fromkeys(send.ids, 1)


def test_partial_then_transient_retries_only_the_rest() -> None:
    send = Send(6)
    provider = ScriptedProvider([partial(2, then=transient()), accept()])
    outcome = send.run(provider)
    assert outcome.finished and outcome.sent == 6 and outcome.retries == 1
    assert provider.requests == [send.ids, send.ids[2:]] and provider.duplicates == []


def test_a_rate_limit_waits_as_told_and_costs_no_attempt() -> None:
    send = Send(3)
    provider = ScriptedProvider([rate_limited(30)] * 4 + [rate_limited(86_400)])
    outcome = send.run(provider, retry=RetryPolicy(max_attempts=2, max_rate_limit_wait=600))
    assert outcome.finished and outcome.sent == 3
    assert outcome.rate_limited_waits == 5 and outcome.retries == 0
    assert send.sleeps == [30, 30, 30, 30, 600]  # a day's wait is capped, not obeyed


def test_refused_addresses_fail_or_come_back_later_and_bounces_are_told_first() -> None:
    send = Send(4)
    told: list[tuple[int, str]] = []

    def on_bounced(run_id: int, failures: list[RecipientFailure]) -> None:
        for failure in failures:  # told before the row is recorded as failed
            sid = failure.recipient.subscriber_id
            assert sid is not None
            told.append((sid, send.states()[sid]))

    provider = ScriptedProvider([refuse(0, bounced=True), refuse(1, permanent=False)])
    outcome = send.run(provider, batch_size=2, on_bounced=on_bounced)
    first, second, third, fourth = send.ids
    assert told == [(first, DeliveryState.SENDING)]
    assert outcome.finished and outcome.sent == 3 and outcome.failed == 1
    assert send.states() == {first: FAILED, second: SENT, third: SENT, fourth: SENT}
    # The temporary refusal went back to the queue and out in a later request.
    assert provider.requests == [[first, second], [third, fourth], [fourth]]


def test_a_pause_gives_back_the_batch_prepared_while_the_request_was_in_flight() -> None:
    send = Send(6)
    outcome = send.run(ScriptedProvider([permanent(400, "reserved header")]), batch_size=2)
    assert outcome.paused_reason
    assert send.with_state(QUEUED) == send.ids  # the next batch was claimed meanwhile: released
    assert send.store.counts(send.run_id)[DeliveryState.CLAIMED] == 0


def test_someone_unsubscribed_after_their_batch_was_claimed_gets_nothing() -> None:
    send = Send(4)
    third = send.ids[2]

    def unsubscribe_third(_: SendOutcome) -> None:
        send.store.set_status(third, SubscriberStatus.UNSUBSCRIBED)

    provider = ScriptedProvider()
    outcome = send.run(provider, batch_size=2, on_progress=unsubscribe_third)
    # The second batch was claimed while the first request was in flight; the third person
    # unsubscribed after that claim, before the second request: skipped at the last moment.
    assert provider.requests == [send.ids[:2], [send.ids[3]]]
    assert outcome.finished and send.states()[third] == DeliveryState.SKIPPED


def test_a_stop_between_batches_leaves_the_rest_queued_for_a_resume() -> None:
    send = Send(6)
    stops = iter([False, False, True])
    provider = ScriptedProvider()
    outcome = send.run(provider, batch_size=2, should_stop=lambda: next(stops, True))
    assert not outcome.finished and outcome.sent == 4 and not outcome.paused_reason
    assert send.with_state(QUEUED) == send.ids[4:] and send.run_state[0] == SendState.SENDING
    assert send.run(provider, batch_size=2).finished and provider.duplicates == []


# -- a per-message provider (one message at a time, as SMTP) ------------------------------------


def test_per_message_transient_retries_the_same_message_and_nothing_else() -> None:
    send = Send(3)
    provider = ScriptedPerMessage({2: transient(), 3: transient()})
    outcome = send.run(provider)
    a, b, c = send.ids
    assert provider.requests == [[a], [b], [b], [b], [c]]
    assert outcome.finished and outcome.sent == 3 and outcome.retries == 2
    assert provider.duplicates == []


def test_per_message_permanent_error_keeps_each_message_sent_and_pauses() -> None:
    send = Send(5)
    outcome = send.run(ScriptedPerMessage({3: permanent(535, "authentication failed")}))
    assert outcome.sent == 2 and "authentication failed" in outcome.paused_reason
    assert send.with_state(SENT) == send.ids[:2] and send.with_state(QUEUED) == send.ids[2:]
    assert send.run_state[0] == SendState.PAUSED


def test_per_message_refusals_fail_for_good_or_are_tried_again_later() -> None:
    send = Send(3)
    unknown = refuse(message="550 5.1.1 unknown")
    provider = ScriptedPerMessage({1: unknown, 2: refuse(permanent=False)})
    outcome = send.run(provider)
    a, b, c = send.ids
    assert provider.requests == [[a], [b], [c], [b]]
    assert outcome.finished and outcome.sent == 2 and outcome.failed == 1
    assert send.states() == {a: FAILED, b: SENT, c: SENT}
    assert send.store.runs[send.run_id].rows[a].error == "550 5.1.1 unknown"


def test_per_message_stop_takes_effect_between_two_messages() -> None:
    send = Send(5)
    asked = iter([False, False, False, True])  # before the batch, then before each message
    provider = ScriptedPerMessage()
    outcome = send.run(provider, should_stop=lambda: next(asked, True))
    assert outcome.sent == 2 and not outcome.finished
    assert send.with_state(SENT) == send.ids[:2] and send.with_state(QUEUED) == send.ids[2:]


# -- whatever the provider does -----------------------------------------------------------------

STEPS = st.one_of(
    st.just(accept()),
    st.just(transient()),
    st.builds(rate_limited, st.sampled_from([0.0, 1.0, 5.0])),
    st.builds(permanent, st.sampled_from([400, 401, 413])),
    st.builds(
        lambda n, then: partial(n, then=then),
        st.integers(1, 3),
        st.sampled_from([transient(), permanent(500)]),
    ),
    st.builds(
        lambda positions, permanent: refuse(*positions, permanent=permanent),
        st.sets(st.integers(0, 3), max_size=2),
        st.booleans(),
    ),
)


@settings(max_examples=150, deadline=None)
@given(
    count=st.integers(1, 9),
    batch=st.integers(1, 4),
    script=st.lists(STEPS, max_size=12),
)
def test_whatever_the_provider_answers_nobody_gets_it_twice_and_resumes_finish(
    count: int, batch: int, script: list[Step]
) -> None:
    """Property: through any sequence of answers, no recipient is accepted twice, what the
    ledger calls SENT is exactly what the provider accepted, a pause leaves nothing leased, and
    resuming after each pause ends with everyone sent or refused for good."""
    send = Send(count)
    provider = ScriptedProvider(script)
    for _ in range(len(script) + 3):
        outcome = send.run(provider, batch_size=batch, retry=RetryPolicy(max_attempts=2))
        assert provider.duplicates == []
        assert send.with_state(SENT) == sorted(provider.accepted)
        counts = send.store.counts(send.run_id)
        assert counts[DeliveryState.CLAIMED] == counts[DeliveryState.SENDING] == 0
        assert bool(outcome.paused_reason) == (send.run_state[0] == SendState.PAUSED)
        if outcome.finished:
            break
    assert outcome.finished
    assert set(send.states().values()) <= {SENT, FAILED}


def test_between_two_requests_the_loop_writes_once() -> None:
    """Issue 17: a batch's SENT rows and the next batch's SENDING rows go in one write
    (mark_sent_and_start); the first batch starts alone and the last is recorded alone. Each
    recipient's states still come in order: SENDING before its request, SENT after its 202."""
    send = Send(5)
    ledger = send.store.ledger()
    writes: list[str] = []
    depth: list[str] = []
    at_request: list[dict[int, str]] = []

    class Recording(ScriptedProvider):
        def _send(self, template: MessageTemplate, recipients: Any) -> Any:
            at_request.append(send.states())
            return super()._send(template, recipients)

    def spy(name: str) -> Any:
        real = getattr(ledger, name)

        def call(*args: Any) -> Any:
            writes.append(name)
            depth.append(name)  # the calls a write makes itself are not the loop's
            try:
                return real(*args)
            finally:
                depth.pop()

        def outer(*args: Any) -> Any:
            return call(*args) if not depth else real(*args)

        return outer

    for name in ("mark_in_flight", "mark_sent", "mark_sent_and_start"):
        setattr(ledger, name, spy(name))
    provider = Recording()
    outcome = Sender(ledger, provider, values, batch_size=2).run(send.run_id, TEMPLATE)
    assert outcome.finished and sorted(provider.accepted) == send.ids
    assert writes == ["mark_in_flight", "mark_sent_and_start", "mark_sent_and_start", "mark_sent"]
    sending = DeliveryState.SENDING
    for index, batch in enumerate(provider.requests):
        assert all(at_request[index][sid] == sending for sid in batch)
        assert all(at_request[index][sid] == SENT for sid in send.ids[: 2 * index])
