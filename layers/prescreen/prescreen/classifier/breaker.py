"""A circuit breaker: after repeated failures, stop calling for a cool-down instead of paying timeouts."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Literal

BreakerState = Literal["closed", "open", "half_open"]


class CircuitBreaker:
    def __init__(self, failure_threshold: int = 5, cool_down_seconds: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._threshold = failure_threshold
        self._cool_down = cool_down_seconds
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_running = False
        self._lock = threading.Lock()

    @property
    def state(self) -> BreakerState:
        with self._lock:
            return self._state()

    def _state(self) -> BreakerState:
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at >= self._cool_down:
            return "half_open"
        return "open"

    def allow(self) -> bool:
        """May a call go out now? In half-open state exactly one trial call is let through."""
        with self._lock:
            state = self._state()
            if state == "closed":
                return True
            if state == "half_open" and not self._trial_running:
                self._trial_running = True
                return True
            return False

    def record_success(self) -> None:
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._trial_running = False

    def record_failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._trial_running or self._failures >= self._threshold:
                self._opened_at = self._clock()
            self._trial_running = False
