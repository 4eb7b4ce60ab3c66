"""Prometheus metrics of the gateway, in a registry of its own (tests run several gateways).

With several worker processes (GATEWAY_WORKERS) prometheus_client runs in its multiprocess mode:
every process writes its counters and histograms to files of its own in PROMETHEUS_MULTIPROC_DIR,
and the primary's /metrics adds up the files of all workers, those that died included.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector


class Metrics:
    """The counters and histograms one gateway keeps.

    ``workers_dir``: the multiprocess directory when this process is one of several workers.
    """

    def __init__(self, workers_dir: Path | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.accepted = Counter(
            "gateway_messages_accepted",
            "Messages stored and routed, by message type",
            ["message_type"],
            registry=self.registry,
        )
        self.refused = Counter(
            "gateway_messages_refused",
            "Submissions refused at the door, by HTTP status and VSP code",
            ["status", "code"],
            registry=self.registry,
        )
        self.replayed = Counter(
            "gateway_messages_replayed",
            "Identical retries answered with the original answer",
            registry=self.registry,
        )
        self.ingress_seconds = Histogram(
            "gateway_ingress_seconds",
            "Time from a complete request to its answer",
            buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.dead_letters = Counter(
            "gateway_dead_letters",
            "Dead letters of the inboxes the gateway handled, by x-death reason and what it did",
            ["reason", "result"],
            registry=self.registry,
        )
        self._exposed = self.registry
        if workers_dir is not None:
            self._exposed = CollectorRegistry()
            self._exposed.register(AllWorkers(self.registry, workers_dir))

    def latest(self) -> bytes:
        """What ``/metrics`` answers, in Prometheus's text format."""
        return generate_latest(self._exposed)


class AllWorkers:
    """Counters and histograms summed over the workers' files; gauges as this process has them.

    The gateway's gauges (the SLA counts) are counted from the ledger when scraped, by the
    primary alone, so its own are the whole truth; they never go through the files, where a
    series that disappears could not be removed (prometheus_client 0.26 warns that ``clear`` and
    ``remove`` are not implemented in multiprocess mode).
    """

    def __init__(self, own: CollectorRegistry, directory: Path) -> None:
        self.own = own
        self.files = MultiProcessCollector(None, str(directory))  # type: ignore[no-untyped-call]

    def collect(self) -> Iterable[Metric]:
        for metric in self.files.collect():  # type: ignore[no-untyped-call]
            if metric.type != "gauge":
                yield metric
        for metric in self.own.collect():
            if metric.type == "gauge":
                yield metric
