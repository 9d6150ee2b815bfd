"""The send rate cap: at most ``rate_per_second`` recipients handed to the provider in any
one-second window (delivery.rate_per_second), with an injected clock and sleep."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable


class RateLimiter:
    """A cap, not an average: at most ``per_second`` recipients handed to the provider in any
    one-second window (0 means no limit).

    A sliding window of hand-over times: before ``n`` recipients go, it waits until the
    hand-overs of the last second plus ``n`` fit under the cap. (An average let a batch of 500
    leave at once at 10 per second, then sleep 48 s; providers and receiving servers count per
    second.) A fractional rate is rounded down (12.5 allows 12 in any second); below one per
    second, one recipient goes per 1/rate seconds. No request may hold more than ``capacity``.
    """

    def __init__(
        self,
        per_second: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.per_second = per_second
        self.clock = clock
        self.sleep = sleep
        self.capacity = max(1, math.floor(per_second)) if per_second > 0 else 0
        self.window = max(1.0, self.capacity / per_second) if per_second > 0 else 0.0
        self._handed: deque[tuple[float, int]] = deque()  # (when, how many), oldest first
        self._in_window = 0

    def wait_for(self, recipients: int) -> None:
        """Wait until ``recipients`` more fit in the window, and count them as handed over."""
        if self.capacity == 0 or recipients <= 0:
            return
        if recipients > self.capacity:
            raise ValueError(f"{recipients} recipients at once, over the cap {self.capacity}")
        now = self.clock()
        while True:
            while self._handed and self._handed[0][0] + self.window <= now:
                self._in_window -= self._handed.popleft()[1]
            excess = self._in_window + recipients - self.capacity
            if excess <= 0:
                break
            wake = now
            for when, count in self._handed:  # the oldest hand-overs that must leave first
                excess -= count
                if excess <= 0:
                    wake = when + self.window
                    break
            self.sleep(wake - now)
            now = max(self.clock(), wake)
        self._handed.append((now, recipients))
        self._in_window += recipients

    def would_wait(self, recipients: int) -> bool:
        """Whether ``wait_for(recipients)`` would sleep now."""
        if self.capacity == 0:
            return False
        now = self.clock()
        leaving = sum(count for when, count in self._handed if when + self.window <= now)
        return self._in_window - leaving + recipients > self.capacity
