"""Prometheus metrics. Counters live in each process: under gunicorn every worker
keeps its own (scrape per worker, or sum at the scraper); no multiprocess directory is used."""
from __future__ import annotations

from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

from service.decide.vocabulary import ACTIONS

_KNOWN_ACTIONS = frozenset(a for actions in ACTIONS.values() for a in actions) | {"list", "subjects", "actions"}

REGISTRY = CollectorRegistry(auto_describe=True)

DECISIONS = Counter("authz_decisions_total", "Decisions served, by action and outcome",
                    ["action", "outcome"], registry=REGISTRY)
DECISION_LATENCY = Histogram("authz_decision_latency_seconds", "Time to decide one request",
                             ["endpoint"], registry=REGISTRY,
                             buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5))


class RecorderCollector:
    """The decision recorder's counts, read at each scrape (this worker's recorder)."""

    def collect(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
        from service.audit import recorder as recording
        current = recording._recorder
        state = current.status() if current is not None else {"waiting": 0, "written": 0, "lost": 0, "refused": 0,
                                                              "writing": True}
        yield GaugeMetricFamily("authz_decision_records_waiting", "Decision records not yet written",
                                value=state["waiting"])
        yield GaugeMetricFamily("authz_decision_recorder_writing", "1 while decision records are written, 0 while "
                                "their writes fail", value=1 if state["writing"] else 0)
        yield CounterMetricFamily("authz_decision_records_written", "Decision records committed",
                                  value=state["written"])
        yield CounterMetricFamily("authz_decision_records_lost", "Decision records of answered decisions that "
                                  "will never be written", value=state["lost"])
        yield CounterMetricFamily("authz_decision_records_refused", "Decisions refused (503 audit_unavailable) "
                                  "because their records could not be written", value=state["refused"])


REGISTRY.register(RecorderCollector())

ERRORS = Counter("authz_errors_total", "Error answers, by HTTP status and code", ["status", "code"],
                 registry=REGISTRY)


# labelled children, looked up once: .labels() costs more than the increment itself
_decision_counters: dict[tuple[str, str], Any] = {}
_latency_histograms: dict[str, Any] = {}


def count_decision(action: str, allowed: bool, error: bool = False) -> None:
    outcome = "error" if error else ("allow" if allowed else "deny")
    # actions come from callers: bound the label set to the vocabulary's words
    label = action if action in _KNOWN_ACTIONS else "other"
    counter = _decision_counters.get((label, outcome))
    if counter is None:
        counter = _decision_counters[(label, outcome)] = DECISIONS.labels(action=label, outcome=outcome)
    counter.inc()


def observe_latency(endpoint: str, seconds: float) -> None:
    histogram = _latency_histograms.get(endpoint)
    if histogram is None:
        histogram = _latency_histograms[endpoint] = DECISION_LATENCY.labels(endpoint=endpoint)
    histogram.observe(seconds)


def count_error(status: int, code: str) -> None:
    ERRORS.labels(status=str(status), code=code).inc()


def exposition() -> tuple[bytes, str]:
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
