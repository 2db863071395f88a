"""`transition` and `failure_streak` for CI pipeline events, from stored run history.

State is kept per run, not per event: a pipeline's history is the list of its runs with
their last status, so a late `running` for a run that already finished cannot move it
back, a duplicate COMPLETED/FINALIZED pair counts once, and the labels survive restarts.
"""

from __future__ import annotations

from collections.abc import Mapping

from app.events import FAILED_STATUSES, TERMINAL_STATUSES, Event, Transition
from app.store import RunRecord, WriteTx

# Cancelled and skipped runs say nothing about whether the pipeline is healthy.
VERDICT_STATUSES = FAILED_STATUSES | {"success"}
# Streaks longer than this are reported as this; walking further buys nothing.
MAX_STREAK = 1000


def pipeline_key(labels: Mapping[str, str]) -> str:
    parts = (labels["source"], labels["project"], labels["pipeline"], labels.get("branch", ""))
    return "\x1f".join(parts)


def split_pipeline_key(key: str) -> tuple[str, str, str, str]:
    """(source, project, pipeline, branch) of a pipeline_key."""
    source, project, pipeline, branch = key.split("\x1f", 3)
    return source, project, pipeline, branch


def apply_pipeline_state(tx: WriteTx, event: Event) -> bool:
    """Record the event's run and set its `transition` and `failure_streak` labels.

    True when this event finished its run with a final status not heard for it before:
    a repeated COMPLETED/FINALIZED pair counts once in the pipeline metrics, a GitLab
    retry that turns a failed pipeline green counts again.
    """
    if event.kind != "pipeline" or event.run_id is None:
        return event.kind == "pipeline" and event.status in TERMINAL_STATUSES
    key = pipeline_key(event.labels)
    status = event.status
    known = tx.get_run(key, event.run_id)
    stale = known is not None and known.status in TERMINAL_STATUSES
    if not (stale and status not in TERMINAL_STATUSES):
        # A late progress update for a finished run is history: the run stays finished.
        tx.save_run(key, RunRecord(event.run_id, event.run_order, status))

    run = RunRecord(event.run_id, event.run_order, status)
    previous = [
        r for r in tx.finished_runs_before(key, run, MAX_STREAK) if r.status in VERDICT_STATUSES
    ]
    earlier_streak = 0
    for r in previous:
        if r.status not in FAILED_STATUSES:
            break
        earlier_streak += 1
    last_verdict = previous[0].status if previous else None
    if (
        known is not None
        and known.status in VERDICT_STATUSES
        and status in VERDICT_STATUSES
        and (known.status in FAILED_STATUSES) != (status in FAILED_STATUSES)
    ):
        # A retried run (GitLab keeps the pipeline id) changed its verdict: that is the
        # change the on-call wants to hear about.
        last_verdict = known.status

    transition: Transition
    if status in FAILED_STATUSES:
        streak = min(earlier_streak + 1, MAX_STREAK)
        transition = "still_failing" if last_verdict in FAILED_STATUSES else "broken"
    elif status == "success":
        streak = 0
        transition = "fixed" if last_verdict in FAILED_STATUSES else "unchanged"
    else:
        streak = earlier_streak
        transition = "unchanged"
    event.labels["transition"] = transition
    event.labels["failure_streak"] = str(streak)
    return status in TERMINAL_STATUSES and (known is None or known.status != status)
