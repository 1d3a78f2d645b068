"""Shared pieces of the benchmarks: repeated timing, medians and percentiles, ratio tables.

Every benchmark runs fast-crewai and its peer in the same process run, on the same data, and
prints ratios (peer / fast-crewai: above 1 means fast-crewai is faster). Machines are noisy, so
every figure is a median or a percentile over many calls, never a single timing.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence


def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation between closest ranks."""
    if not samples:
        raise ValueError("percentile of no samples")
    ordered = sorted(samples)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * q / 100.0
    lo = int(rank)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (rank - lo)


def time_calls(fn: Callable[[int], object], count: int, warmup: int = 3) -> list[float]:
    """Calls fn(i) `count` times after `warmup` calls; returns each call's seconds."""
    for i in range(warmup):
        fn(i)
    out = []
    for i in range(count):
        start = time.perf_counter()
        fn(i)
        out.append(time.perf_counter() - start)
    return out


def interleaved(fns: dict[str, Callable[[int], object]], count: int, warmup: int = 3) -> dict[str, list[float]]:
    """Times several implementations call by call, alternating between them, so that a noisy
    neighbour or a frequency change hits all of them alike."""
    for name, fn in fns.items():
        for i in range(warmup):
            fn(i)
    out: dict[str, list[float]] = {name: [] for name in fns}
    for i in range(count):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn(i)
            out[name].append(time.perf_counter() - start)
    return out


@dataclass
class Table:
    """A side-by-side table: one row per measurement, one column per implementation, and the
    ratio peer / ours."""

    title: str
    ours: str
    peer: str
    unit: str = "ms"
    rows: list[tuple[str, float, float]] = field(default_factory=list)

    def add(self, label: str, ours: float, peer: float) -> None:
        self.rows.append((label, ours, peer))

    def render(self) -> str:
        scale = {"ms": 1e3, "us": 1e6, "s": 1.0, "/s": 1.0}[self.unit]
        width = max([len(r[0]) for r in self.rows] + [12])
        lines = [f"== {self.title}", f"{'':{width}}  {self.ours:>16}  {self.peer:>16}  {'ratio':>8}"]
        for label, ours, peer in self.rows:
            if self.unit == "/s":  # throughput: higher is better, ratio ours / peer
                ratio = ours / peer if peer else float("inf")
            else:
                ratio = peer / ours if ours else float("inf")
            lines.append(
                f"{label:{width}}  {ours * scale:>13.3f} {self.unit:<2}  {peer * scale:>13.3f} {self.unit:<2}  {ratio:>7.2f}x")
        return "\n".join(lines)


def median(samples: Iterable[float]) -> float:
    return statistics.median(list(samples))
