"""Every Prometheus metric the service exports, in one place so names stay consistent."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

# No `_created` series: no query or alert uses them, and they doubled every counter's
# series. Process-wide, like the registry the metrics below live in.
disable_created_metrics()  # type: ignore[no-untyped-call]

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
# failed: will be retried; folded: merged into a digest delivery, which is counted itself.
DELIVERY_OUTCOMES = ("sent", "failed", "dead", "skipped", "folded")
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
ROUTE_MATCHES = Counter(
    "signalbox_route_matches_total",
    'Events matched, by route path ("0", "2.1"; "fallback" for events no route took).',
    ["route"],
)

# CI pipelines, counted once per run when it reaches a final status.
PIPELINE_RUNS = Counter(
    "signalbox_pipeline_runs_total",
    "Finished CI pipeline runs, by source, project and final status.",
    ["source", "project", "status"],
)
PIPELINE_DURATION = Histogram(
    "signalbox_pipeline_duration_seconds",
    "Duration of finished CI pipeline runs, by source and project.",
    ["source", "project"],
    buckets=(10, 30, 60, 120, 300, 600, 900, 1200, 1800, 2700, 3600, 7200, 14400),
)
PIPELINE_LAST_STATUS = Gauge(
    "signalbox_pipeline_last_status",
    "1 for the last status seen of each pipeline+branch (the status is a label).",
    ["source", "project", "pipeline", "branch", "status"],
)
PIPELINES_RUNNING = Gauge(
    "signalbox_pipelines_running",
    "Pipeline runs started (queued or running) in the last day and not yet finished.",
    ["source", "project"],
)
LABEL_OVERFLOW = Counter(
    "signalbox_metric_label_overflow_total",
    'Values past a label\'s bound (SIGNALBOX_METRICS_LABEL_LIMIT): counted as "other".',
    ["label"],
)
PRUNED = Counter(
    "signalbox_pruned_rows_total",
    "Rows removed by retention, by table.",
    ["table"],
)

# The on-call loop.
ESCALATION_STEPS = Counter(
    "signalbox_escalation_steps_total",
    "Escalation steps come due, by outcome: fired, stopped (acknowledged or resolved "
    "before), silenced, stale.",
    ["outcome"],
)
ACKNOWLEDGEMENTS = Counter(
    "signalbox_acknowledgements_total",
    "Troubles acknowledged, by where: api, console, link, slack.",
    ["via"],
)

# Read from the bus at scrape time.
QUEUE_DEPTH = Gauge(
    "signalbox_delivery_queue_depth",
    "Deliveries waiting to be sent or retried, by receiver.",
    ["receiver"],
)
OLDEST_PENDING_AGE = Gauge(
    "signalbox_delivery_oldest_pending_age_seconds",
    "Age of the oldest delivery still waiting to be sent (0 when none waits).",
)
ESCALATIONS_PENDING = Gauge(
    "signalbox_escalation_steps_pending",
    "Escalation steps waiting for their time on this replica's receivers.",
)
SILENCES = Gauge(
    "signalbox_silences",
    "Silences by state (active, pending, expired and still kept).",
    ["state"],
)
GROUPS_WAITING = Gauge(
    "signalbox_groups_waiting",
    "Alert groups holding events until their group_wait/group_interval ends.",
)

# Polling CI APIs (app/pollers/).
POLLS = Counter(
    "signalbox_polls_total",
    "Polls of a CI API target, by source, target and outcome "
    "(news, unchanged, failed, unreachable, rate_limited).",
    ["source", "target", "outcome"],
)
POLL_REQUESTS = Counter(
    "signalbox_poll_requests_total",
    "HTTP requests made to CI APIs while polling, by source.",
    ["source"],
)
POLL_LAST_SUCCESS = Gauge(
    "signalbox_poll_last_success_timestamp_seconds",
    "Unix time of the last poll of a target that succeeded (set by the replica polling it).",
    ["source", "target"],
)
POLL_SOURCE_UP = Gauge(
    "signalbox_poll_source_up",
    "Whether a polled CI API answers (1) or its circuit breaker is open (0).",
    ["source"],
)
