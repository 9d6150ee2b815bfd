"""A named lease (store/leases.py: the scheduler, feed:<url>) has one holder at a time, on
SQLite and PostgreSQL: taken over once it lapses, at once from a dead process of this machine,
and when two try at the same moment on a free lease exactly one gets it."""

from __future__ import annotations

import socket
import threading
from datetime import timedelta

from mailer.store.leases import Lease
from mailer.store.models import utcnow
from tests.contract.conftest import Backend

TTL = timedelta(seconds=30)


def lease(backend: Backend, owner: str, name: str = "feed:https://clinic.example/feed") -> Lease:
    return Lease(backend.sessions, name=name, ttl=TTL, owner=owner)


def test_one_holder_until_the_lease_lapses_then_the_next_takes_over(backend: Backend) -> None:
    now = utcnow()
    first, second = lease(backend, "host-a:1:aa"), lease(backend, "host-b:2:bb")
    assert first.try_acquire(now)
    assert not second.try_acquire(now + TTL / 2)
    assert first.renew(now + TTL / 2)  # renewed: good for another TTL from then
    assert not second.try_acquire(now + TTL)
    lapsed = now + TTL / 2 + TTL + timedelta(seconds=1)
    assert second.try_acquire(lapsed)
    assert not first.renew(lapsed)  # replaced: it must stop acting as the holder
    holder = second.holder()
    assert holder is not None and holder.owner == "host-b:2:bb"


def test_a_lease_released_is_free_at_once(backend: Backend) -> None:
    now = utcnow()
    first, second = lease(backend, "host-a:1:aa"), lease(backend, "host-b:2:bb")
    assert first.try_acquire(now)
    first.release(now)
    assert second.try_acquire(now)


def test_a_dead_holder_on_this_machine_is_replaced_at_once(backend: Backend) -> None:
    now = utcnow()
    dead = lease(backend, f"{socket.gethostname()}:999999999:dead")
    assert dead.try_acquire(now)
    assert lease(backend, "host-b:2:bb").try_acquire(now)


def test_leases_of_different_names_are_independent(backend: Backend) -> None:
    now = utcnow()
    assert lease(backend, "host-a:1:aa", name="scheduler").try_acquire(now)
    assert lease(backend, "host-b:2:bb", name="feed:x").try_acquire(now)


def test_two_taking_a_free_lease_at_the_same_moment_one_gets_it(backend: Backend) -> None:
    now = utcnow()
    contenders = [lease(backend, f"host-{n}:{n}:x") for n in range(4)]
    got: list[bool] = []
    ready = threading.Barrier(len(contenders))

    def take(contender: Lease) -> None:
        ready.wait()
        got.append(contender.try_acquire(now))

    threads = [threading.Thread(target=take, args=(c,)) for c in contenders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(got) == [False, False, False, True]
