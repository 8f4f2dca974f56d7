"""Timing helpers shared by the benchmark modules (not a benchmark itself: no `bench_` prefix)."""

from __future__ import annotations

import time
from collections.abc import Callable


def best(fn: Callable[[], object], runs: int = 5) -> float:
    """The fastest of `runs` wall-clock timings of `fn()`, in seconds."""
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)
