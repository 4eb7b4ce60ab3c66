"""Prometheus metrics of the gateway, in a registry of its own (tests run several gateways)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


class Metrics:
    """The counters and histograms one gateway keeps."""

    def __init__(self) -> None:
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
