"""Percentiles of measured delays, the same way in every bench."""

from __future__ import annotations

import statistics


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank value at ``fraction`` (0.5: median, 0.99: p99); NaN for no values."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))] if ordered else float("nan")


def latency_summary(delays_ms: list[float]) -> dict[str, float]:
    """p50, p99, max and mean of delays in milliseconds."""
    return {"p50_ms": percentile(delays_ms, 0.5), "p99_ms": percentile(delays_ms, 0.99),
            "max_ms": max(delays_ms, default=float("nan")),
            "mean_ms": statistics.fmean(delays_ms) if delays_ms else float("nan")}
