"""Sample events of every source and kind, and the notifications the bus makes of them.

Templates are tried on these at `signalbox check` and at every reload
(app/routing/rendercheck.py), so a template that fails on some event fails there and
not at 3 a.m.; `signalbox send-test` sends one of them. CI events are built by the
sources' own `ci_event`, alerts by the Alertmanager parser from a webhook payload, so
labels, titles and annotations look exactly like the real ones.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from app.events import Event, Kind, Source, Status, base_labels
from app.sources import SOURCE_MODULES
from app.sources.base import ci_event, extend_labels
from channels.base import Notification

_STARTED = datetime(2025, 3, 14, 9, 26, 53, tzinfo=UTC)
_FINISHED = _STARTED + timedelta(minutes=4, seconds=12)

# The route a sample notification claims to come from: any path will do.
SAMPLE_ROUTE = "0"


@dataclass(frozen=True)
class Sample:
    """One notification a channel may be asked to render, and what it stands for."""

    name: str
    notification: Notification


def _ci(
    source: Source,
    kind: Kind,
    status: Status,
    project: str,
    pipeline: str,
    number: int,
    *,
    title: str | None = None,
    **labels: str,
) -> Event:
    base = base_labels(
        source=source,
        kind=kind,
        status=status,
        project=project,
        pipeline=pipeline,
        branch=labels.pop("branch", "main"),
        actor="octocat",
        commit="6dcb09b5b57875f334f61aebed695e2e4193db5e",
        environment=labels.pop("environment", None),
    )
    event = ci_event(
        extend_labels(base, **labels),
        run=f"{project}#{number}",
        number=number,
        url=f"https://ci.example.com/{project}/{number}",
        started_at=_STARTED,
        finished_at=_FINISHED if status not in ("queued", "running") else None,
    )
    return event if title is None else event.model_copy(update={"title": title})


# The send-test message: a broken Jenkins pipeline, in Chinese and English.
SEND_TEST_TITLE = "Signalbox test message · 测试消息: if you read this, the channel works"


def send_test_event() -> Event:
    """What `signalbox send-test` sends: a recognisable broken pipeline."""
    return _ci(
        "jenkins",
        "pipeline",
        "failure",
        "signalbox/send-test",
        "send-test",
        1,
        title=SEND_TEST_TITLE,
        transition="broken",
        failure_streak="1",
    )


def _alert(name: str, status: str, cluster: str, **annotations: str) -> dict[str, Any]:
    ends = "0001-01-01T00:00:00Z" if status == "firing" else _FINISHED.isoformat()
    return {
        "status": status,
        "labels": {
            "alertname": name,
            "severity": "critical",
            "cluster": cluster,
            "instance": f"db-1.{cluster}:9187",
            "job": "postgres",
        },
        "annotations": annotations,
        "startsAt": _STARTED.isoformat(),
        "endsAt": ends,
        "generatorURL": f"https://prometheus.example.com/graph?g0.expr=up%7Bcluster%3D%22{cluster}%22%7D",
    }


def _alerts() -> list[Event]:
    payload = {
        "version": "4",
        "groupKey": '{}:{alertname="PostgresDown"}',
        "status": "firing",
        "receiver": "oncall",
        "externalURL": "https://alertmanager.example.com",
        "alerts": [
            _alert("PostgresDown", "firing", "prod-cn", summary="数据库连接数过高，主库不可用"),
            _alert("PostgresDown", "firing", "prod-eu", summary="Primary database unreachable"),
            _alert("PostgresDown", "resolved", "prod-us", description="back after failover"),
        ],
    }
    return SOURCE_MODULES["alertmanager"].parse({}, payload)


def _grafana_alert() -> Event:
    alert = _alert("DiskFilling", "firing", "prod-eu", summary="Disk /var 93% full")
    alert |= {
        "silenceURL": "https://grafana.example.com/alerting/silence/new?alertmanager=grafana",
        "dashboardURL": "https://grafana.example.com/d/node?orgId=1",
        "values": {"A": 93.4, "B": 1},
        "valueString": "[ var='A' labels={instance=db-1} value=93.4 ]",
    }
    payload = {
        "version": "1",
        "orgId": 1,
        "status": "firing",
        "state": "alerting",
        "receiver": "oncall",
        "title": "[FIRING:1] DiskFilling",
        "alerts": [alert],
    }
    return SOURCE_MODULES["grafana"].parse({}, payload)[0]


def sample_events() -> dict[str, Event]:
    """One event of each source and kind that matters to a template, by name."""
    cn_firing, eu_firing, resolved = _alerts()
    return {
        "send-test (Jenkins pipeline broken, Chinese title)": send_test_event(),
        "GitHub pipeline broken": _ci(
            "github",
            "pipeline",
            "failure",
            "octo-org/octo-repo",
            "CI",
            42,
            transition="broken",
            failure_streak="1",
            github_event="workflow_run",
        ),
        "GitLab pipeline still failing": _ci(
            "gitlab",
            "pipeline",
            "failure",
            "group/app",
            "pipeline",
            1207,
            transition="still_failing",
            failure_streak="3",
        ),
        "Jenkins pipeline fixed": _ci(
            "jenkins",
            "pipeline",
            "success",
            "payments/api",
            "payments/api",
            88,
            branch="release/2.1",
            transition="fixed",
            failure_streak="0",
        ),
        "GitLab job failed": _ci(
            "gitlab", "job", "failure", "group/app", "pipeline", 5521, job="test:unit", stage="test"
        ),
        "GitHub job running": _ci(
            "github", "job", "running", "octo-org/octo-repo", "CI", 43, job="build"
        ),
        "GitLab deployment to production": _ci(
            "gitlab", "deployment", "success", "group/app", "deploy", 77, environment="production"
        ),
        "GitHub deployment failed": _ci(
            "github",
            "deployment",
            "failure",
            "octo-org/octo-repo",
            "deploy",
            78,
            environment="staging",
        ),
        "Alertmanager alert firing (Chinese summary)": cn_firing,
        "Alertmanager alert firing": eu_firing,
        "Alertmanager alert resolved": resolved,
        "Grafana alert firing": _grafana_alert(),
        "generic sender's job failed (curl from a cron job)": _ci(
            "generic", "job", "failure", "nightly-backup", "nightly-backup", 7, generic="cron"
        ),
    }


def sample_notifications(receiver: str) -> list[Sample]:
    """Every shape of notification the bus hands `receiver`: single events, groups, a
    rate-limit digest with a folded count, and a fallback delivery."""
    events = sample_events()
    alerts = [e for e in events.values() if e.kind == "alert"]
    pipelines = [e for e in events.values() if e.kind == "pipeline"]

    def single(name: str, event: Event) -> Sample:
        return Sample(name, Notification(receiver, SAMPLE_ROUTE, event.fingerprint, [event]))

    samples = [single(name, event) for name, event in events.items()]
    grouped = Notification(
        receiver,
        SAMPLE_ROUTE,
        '{}:{alertname="PostgresDown"}',
        alerts,
        group_labels={"alertname": "PostgresDown", "severity": "critical"},
    )
    samples += [
        Sample("Alertmanager alerts grouped (firing and resolved)", grouped),
        Sample(
            "pipelines grouped by project",
            Notification(
                receiver, SAMPLE_ROUTE, "project", pipelines, group_labels={"project": "group/app"}
            ),
        ),
        Sample(
            "rate-limit digest (3 listed, 12 folded)",
            Notification(
                receiver, "digest", "digest of 15 deliveries", list(events.values())[:3], folded=12
            ),
        ),
        Sample(
            "fallback delivery (another channel gave up)",
            replace(grouped, is_fallback=True),
        ),
    ]
    return samples
