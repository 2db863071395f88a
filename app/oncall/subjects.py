"""What an event is about, for the on-call loop: its subject, and whether it is trouble.

An alert's subject is its fingerprint, a pipeline's its pipeline + branch. Trouble is a
firing alert or a failed (or unstable) pipeline run; it ends when the alert resolves or
the pipeline succeeds. Only trouble can be acknowledged or escalated.
"""

from __future__ import annotations

from app.events import FAILED_STATUSES, Event
from app.pipeline_state import pipeline_key


def subject_key(event: Event) -> str:
    """The alert or pipeline an event is about (inhibition keys its activity by it too)."""
    if event.kind == "pipeline":
        return "pipeline:" + pipeline_key(event.labels)
    return "alert:" + event.fingerprint


def on_call(event: Event) -> bool:
    """Whether the on-call loop follows this kind of event: alerts and pipelines."""
    return event.kind in ("alert", "pipeline")


def is_trouble(event: Event) -> bool:
    if event.kind == "alert":
        return event.status == "firing"
    return event.kind == "pipeline" and event.status in FAILED_STATUSES


def ends_trouble(event: Event) -> bool:
    if event.kind == "alert":
        return event.status == "resolved"
    return event.kind == "pipeline" and event.status == "success"


def opens_trouble(event: Event) -> bool:
    """Whether the event starts trouble (and so its escalation): an alert firing, a
    pipeline broken; a pipeline still failing is the same trouble going on."""
    if event.kind == "alert":
        return event.status == "firing"
    return is_trouble(event) and event.labels.get("transition", "broken") == "broken"


def incarnation(event: Event) -> str:
    """Which trouble of its subject the event belongs to: an alert's startsAt (firing
    again after a resolution nobody heard of is another trouble); "" for a pipeline,
    whose trouble lasts until it is fixed."""
    if event.kind == "alert" and event.started_at is not None:
        return event.started_at.isoformat()
    return ""
