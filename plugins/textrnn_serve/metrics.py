"""Prometheus text-format metrics (exposition format 0.0.4), kept in memory by one process."""

from __future__ import annotations

import bisect
import threading
import time
from collections import defaultdict

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


def _labels(pairs: tuple) -> str:
    if not pairs:
        return ""
    escaped = (f'{k}="{str(v).replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"' for k, v in pairs)
    return "{" + ",".join(escaped) + "}"


class Histogram:
    """Cumulative buckets per label set, as Prometheus histograms are."""

    def __init__(self, buckets=LATENCY_BUCKETS):
        self.buckets = buckets
        self.counts: dict[tuple, list[int]] = defaultdict(lambda: [0] * (len(buckets) + 1))
        self.sums: dict[tuple, float] = defaultdict(float)

    def observe(self, labels: tuple, value: float) -> None:
        self.counts[labels][bisect.bisect_left(self.buckets, value)] += 1
        self.sums[labels] += value

    def lines(self, name: str) -> list[str]:
        out = []
        for labels, counts in sorted(self.counts.items()):
            total = 0
            for bound, count in zip((*self.buckets, "+Inf"), counts):
                total += count
                out.append(f"{name}_bucket{_labels(labels + (('le', bound),))} {total}")
            out.append(f"{name}_sum{_labels(labels)} {self.sums[labels]:.6f}")
            out.append(f"{name}_count{_labels(labels)} {total}")
        return out


class Metrics:
    """Requests, tokens and latencies of one server."""

    def __init__(self):
        self._lock = threading.Lock()
        self.started = time.time()
        self.requests: dict[tuple, int] = defaultdict(int)
        self.tokens: dict[tuple, int] = defaultdict(int)
        self.latency = Histogram()
        self.first_token = Histogram()

    def request_done(self, path: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[(("path", path), ("status", status))] += 1
            self.latency.observe((("path", path),), seconds)

    def generated(self, model: str, prompt_tokens: int, completion_tokens: int) -> None:
        with self._lock:
            self.tokens[(("model", model), ("kind", "prompt"))] += prompt_tokens
            self.tokens[(("model", model), ("kind", "completion"))] += completion_tokens

    def first_token_after(self, model: str, seconds: float) -> None:
        with self._lock:
            self.first_token.observe((("model", model),), seconds)

    def render(self, gauges: dict[str, tuple[str, dict[tuple, float]]]) -> str:
        """The exposition text; ``gauges`` maps a name to (help, {labels: value}) read at scrape time."""
        with self._lock:
            parts = [
                ("textrnn_requests_total", "counter", "HTTP requests answered, by path and status.",
                 [f"textrnn_requests_total{_labels(k)} {v}" for k, v in sorted(self.requests.items())]),
                ("textrnn_tokens_total", "counter", "Tokens read (prompt) and generated (completion), by model.",
                 [f"textrnn_tokens_total{_labels(k)} {v}" for k, v in sorted(self.tokens.items())]),
                ("textrnn_request_duration_seconds", "histogram", "Time from request to the end of the response.",
                 self.latency.lines("textrnn_request_duration_seconds")),
                ("textrnn_time_to_first_token_seconds", "histogram", "Time from request to the first generated text, of streamed requests.",
                 self.first_token.lines("textrnn_time_to_first_token_seconds")),
            ]
        for name, (help_text, values) in gauges.items():
            parts.append((name, "gauge", help_text, [f"{name}{_labels(k)} {v}" for k, v in sorted(values.items())]))
        lines = []
        for name, kind, help_text, samples in parts:
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", *samples]
        return "\n".join(lines) + "\n"
