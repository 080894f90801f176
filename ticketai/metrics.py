"""Prometheus metrics: one registry, the metric objects web code updates, and facts read from the
database at scrape time.

Web code updates what happens in the web process, e.g.
``from ticketai.metrics import RECOMMENDATIONS; RECOMMENDATIONS.labels(outcome="served").inc()``.
What happens in Celery workers or on edge agents (training runs, drift checks, heartbeats) is
already in the database, so ``DatabaseCollector`` reads it when /metrics is scraped: the figures are
right whichever process did the work, and survive restarts.

Each web process keeps its own counters. gunicorn started with ``ticketai.gunicorn_config`` (compose,
the Dockerfile, ``make demo``) sets ``PROMETHEUS_MULTIPROC_DIR`` and ``render`` adds up every worker's.
"""

import logging
import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, SummaryMetricFamily

logger = logging.getLogger(__name__)

REGISTRY = CollectorRegistry(auto_describe=True)

REQUEST_LATENCY = Histogram(
    "ticketai_request_duration_seconds",
    "Time to answer an HTTP request, by route pattern, method and status class.",
    ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)
RECOMMENDATIONS = Counter(
    "ticketai_recommendations_total",
    "Recommendations answered, by outcome: served (a resolution was proposed) or abstained.",
    ["outcome"],
    registry=REGISTRY,
)
MODEL_VERSION = Gauge(
    "ticketai_model_version_in_use",
    "Model version id this process serves, per label set (0: none loaded).",
    ["label_set"],
    registry=REGISTRY,
    multiprocess_mode="livemostrecent",  # several gunicorn workers: the latest load, live workers only
)
THROTTLED = Counter(
    "ticketai_throttled_requests_total",
    "Requests answered 429, by throttle scope.",
    ["scope"],
    registry=REGISTRY,
)


class DatabaseCollector:
    """Training runs and their durations, latest drift scores, edge agents' backlog and last-seen."""

    def describe(self):
        # Names only: registering must not query the database (it happens at import time).
        return self._families()

    def _families(self):
        return (
            GaugeMetricFamily(
                "ticketai_training_runs", "Training runs by status (all time).", labels=["status"]
            ),
            SummaryMetricFamily(
                "ticketai_training_duration_seconds",
                "Wall time of finished training runs, by status.",
                labels=["status"],
            ),
            GaugeMetricFamily(
                "ticketai_drift_score",
                "Latest drift check's scores, per label set and signal.",
                labels=["label_set", "signal"],
            ),
            GaugeMetricFamily(
                "ticketai_edge_backlog",
                "Unsent predictions an edge agent reported at its last heartbeat.",
                labels=["agent", "site"],
            ),
            GaugeMetricFamily(
                "ticketai_edge_last_seen_timestamp_seconds",
                "Unix time of an edge agent's last heartbeat.",
                labels=["agent", "site"],
            ),
        )

    def collect(self):
        runs, durations, drift, backlog, last_seen = families = self._families()
        try:
            self._fill(runs, durations, drift, backlog, last_seen)
        except Exception:  # a scrape must answer even while the database does not
            logger.exception("database metrics could not be read")
        return families

    def _fill(self, runs, durations, drift, backlog, last_seen) -> None:
        from django.db.models import Count, DurationField, ExpressionWrapper, F, Sum

        from ml.models import DriftReport, EdgeAgent, TrainingRun

        for row in TrainingRun.objects.values("status").annotate(n=Count("id")).order_by("status"):
            runs.add_metric([row["status"]], row["n"])
        finished = TrainingRun.objects.filter(started_at__isnull=False, finished_at__isnull=False)
        took = ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField())
        for row in finished.values("status").annotate(n=Count("id"), total=Sum(took)).order_by("status"):
            durations.add_metric([row["status"]], row["n"], row["total"].total_seconds())
        latest = {}
        for report in DriftReport.objects.order_by("label_set_key", "-computed_at", "-id"):
            latest.setdefault(report.label_set_key, report)
        for key, report in latest.items():
            for signal, value in sorted((report.scores or {}).items()):
                if isinstance(value, int | float) and not isinstance(value, bool):
                    drift.add_metric([key, signal], value)
        for agent in EdgeAgent.objects.filter(revoked_at__isnull=True).select_related("site"):
            labels = [f"{agent.pk}:{agent.name}", agent.site.code]
            backlog.add_metric(labels, agent.backlog)
            if agent.last_seen:
                last_seen.add_metric(labels, agent.last_seen.timestamp())


REGISTRY.register(DatabaseCollector())


def render() -> tuple[bytes, str]:
    """The exposition text and its content type; aggregates worker processes in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        registry.register(DatabaseCollector())
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
