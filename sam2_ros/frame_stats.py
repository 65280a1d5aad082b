"""Counts and latencies of the images passing through the worker, read by the node's diagnostics."""

from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Counts:
    """Images received, processed, dropped (replaced in the mailbox), rejected (unusable) and failed,
    and the times time jumped back (a new stream started)."""

    received: int = 0
    processed: int = 0
    dropped: int = 0
    rejected: int = 0
    failed: int = 0
    time_jumps: int = 0

    def __sub__(self, other: Counts) -> Counts:
        return Counts(*(mine - theirs for mine, theirs in zip(dataclasses.astuple(self), dataclasses.astuple(other))))


@dataclass(frozen=True)
class StatsWindow:
    """One window of statistics: its length, its counts, the totals, and each processed image's
    latency (receipt to published, seconds)."""

    seconds: float
    window: Counts
    total: Counts
    latencies: list[float]
    object_count: int

    @property
    def frame_rate(self) -> float:
        return self.window.processed / self.seconds if self.seconds > 0 else 0.0

    def latency_percentile(self, percent: float) -> float:
        """Latency percentile in seconds (0 without a processed image)."""
        return float(np.percentile(self.latencies, percent)) if self.latencies else 0.0

    @property
    def latency_mean(self) -> float:
        return float(np.mean(self.latencies)) if self.latencies else 0.0


class FrameStats:
    """Thread-safe counters; `take` closes a window and starts the next."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._total = self._window_start_total = Counts()
        self._window_start = time.monotonic()
        self._latencies: list[float] = []
        self._object_count = 0

    def count(self, **increments: int) -> None:
        """Add to counts by name, e.g. count(received=1, dropped=1)."""
        with self._lock:
            self._total = dataclasses.replace(
                self._total, **{name: getattr(self._total, name) + step for name, step in increments.items()}
            )

    def processed(self, latency: float, object_count: int) -> None:
        with self._lock:
            self._total = dataclasses.replace(self._total, processed=self._total.processed + 1)
            self._latencies.append(latency)
            self._object_count = object_count

    def take(self) -> StatsWindow:
        now = time.monotonic()
        with self._lock:
            window = StatsWindow(
                seconds=now - self._window_start,
                window=self._total - self._window_start_total,
                total=self._total,
                latencies=self._latencies,
                object_count=self._object_count,
            )
            self._window_start, self._window_start_total, self._latencies = now, self._total, []
        return window
