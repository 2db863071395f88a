"""Sample events and notifications for channel tests, Chinese text included."""

from __future__ import annotations

from typing import Any

from app.events import Event, base_labels
from channels.base import Notification


def pipeline_event(n: int = 1, status: str = "failure", **labels: Any) -> Event:
    """A CI pipeline event; `labels` override or add to the defaults."""
    merged: dict[str, Any] = {
        "source": "gitlab",
        "kind": "pipeline",
        "status": status,
        "project": "支付/payments-api",
        "pipeline": "CI",
        "branch": "main",
        "actor": "张三",
        "commit": "0123456789abcdef",
        "transition": "broken" if status == "failure" else "fixed",
        "failure_streak": "1" if status == "failure" else "0",
    }
    merged.update(labels)
    return Event(
        fingerprint=f"fp-{n}",
        title=f"流水线 #{n} 失败：单元测试未通过" if status == "failure" else f"流水线 #{n} 已修复",
        url=f"https://gitlab.example.com/pay/api/-/pipelines/{n}",
        labels=base_labels(**merged),
        duration_s=125.0,
    )


def run_event(run: int, status: str = "failure", branch: str = "main") -> Event:
    """Run `run` of GitLab pipeline group/app `build`, tracked for transitions."""
    labels = base_labels(
        source="gitlab",
        kind="pipeline",
        status=status,  # type: ignore[arg-type]
        project="group/app",
        pipeline="build",
        branch=branch,
    )
    return Event(
        fingerprint=f"gitlab:group/app:build:{run}:{status}",
        title=f"run {run} {status}",
        labels=labels,
        run_id=str(run),
        run_order=run,
    )


def alert_event(n: int = 1, status: str = "firing", summary: str = "接口延迟过高") -> Event:
    return Event(
        fingerprint=f"alert-{n}",
        title=f"HighLatency 实例 {n}",
        url="https://grafana.example.com/d/latency",
        labels=base_labels(
            source="alertmanager",
            kind="alert",
            status=status,  # type: ignore[arg-type]
            project="prod",
            pipeline="HighLatency",
            severity="critical",
            instance=f"api-{n}:9090",
        ),
        annotations={"summary": summary},
    )


def notification(*events: Event, **kwargs: Any) -> Notification:
    fields: dict[str, Any] = {"receiver": "ops", "route": "0", "group_key": "{}:{alertname}"}
    fields.update(kwargs)
    return Notification(events=list(events), **fields)


def big_notification(count: int = 60, summary_chars: int = 400) -> Notification:
    """A group far larger than any chat provider accepts in one message."""
    text = "数据库连接池耗尽，请检查慢查询。" * (summary_chars // 16)
    return notification(*(alert_event(i, summary=text) for i in range(count)))


def giant_notifications() -> list[Notification]:
    """Values no provider takes whole: a 60,000-character branch and title, a 1 MB
    annotation, 100,000-character labels and group labels; as a lone CI event (its title
    is the message's), an alert group (its labels title it) and both together."""
    ci = pipeline_event(1, branch="分支" * 30_000, project="p" * 100_000)
    ci = ci.model_copy(
        update={
            "fingerprint": "giant-ci-1",
            "title": "标题" * 30_000,
            "annotations": {"summary": "日志" * 500_000},
        }
    )
    alert = alert_event(2, summary="x" * 1_000_000)
    alert = alert.model_copy(
        update={
            "fingerprint": "giant-alert-2",
            "labels": {**alert.labels, "cluster": "c" * 100_000, "team": "t" * 100_000},
        }
    )
    group_labels = {"alertname": "A" * 60_000}
    return [
        notification(ci),
        notification(alert, group_labels=group_labels),
        notification(ci, alert, group_labels=group_labels),
    ]
