"""Every Prometheus metric the service exports, in one place so names stay consistent."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS_RECEIVED = Counter(
    "signalbox_events_received_total",
    "Events accepted and stored, by source and kind.",
    ["source", "kind"],
)
WEBHOOKS_REFUSED = Counter(
    "signalbox_webhooks_refused_total",
    "Webhook posts not turned into events, by source and reason.",
    ["source", "reason"],
)

# Named as Alertmanager's alertmanager_config_last_reload_*, so existing alerts carry over.
CONFIG_LAST_RELOAD_SUCCESSFUL = Gauge(
    "signalbox_config_last_reload_successful",
    "Whether the last routes.yaml reload attempt succeeded (1) or was rejected (0).",
)
CONFIG_LAST_RELOAD_SUCCESS_TIMESTAMP = Gauge(
    "signalbox_config_last_reload_success_timestamp_seconds",
    "Unix time of the last successful routes.yaml load.",
)
EVENTS_DROPPED = Counter(
    "signalbox_events_dropped_total",
    "Events no route matched while no fallback is configured.",
    ["source"],
)
DELIVERIES = Counter(
    "signalbox_deliveries_total",
    "Deliveries finished or retried, by channel type and outcome.",
    ["channel", "outcome"],
)
DELIVERY_ATTEMPTS = Counter(
    "signalbox_delivery_attempts_total",
    "Send attempts, by channel type.",
    ["channel"],
)
DISPATCHES_DROPPED = Counter(
    "signalbox_dispatches_dropped_total",
    "Routed events not sent on purpose (dedup, mute, inhibit, send_resolved).",
    ["receiver", "reason"],
)
SEND_LATENCY = Histogram(
    "signalbox_post_to_sent_seconds",
    "Seconds from receiving a webhook to the provider accepting its notification.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800),
)
