"""`transition` and `failure_streak` for CI pipeline events, from stored run history.

State is kept per run, not per event: a pipeline's history is the list of its runs with
their last status, so a late `running` for a run that already finished cannot move it
back, a duplicate COMPLETED/FINALIZED pair counts once, and the labels survive restarts.

Judging reads history only (`judge`), so it can run against any snapshot; recording the
run (`record_run`) is the write. The ingest path judges outside the store's writer and
checks the verdict again inside it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from app.events import FAILED_STATUSES, TERMINAL_STATUSES, Event, Transition
from app.store import RunHistory, RunRecord, WriteTx

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


@dataclass(frozen=True)
class Verdict:
    """What one CI event means for its pipeline, given the runs stored before it."""

    transition: Transition
    streak: int
    # The event finished its run with a final status not heard for it before: a repeated
    # COMPLETED/FINALIZED pair counts once in the pipeline metrics, a GitLab retry that
    # turns a failed pipeline green counts again.
    finished_run: bool
    # Set when the event tells nothing new about its run: why (None when it is news).
    old_news: str | None = None
    # What the run record becomes; None when it stays as stored.
    record: RunRecord | None = None
    # The pipeline's history generation it was judged at (see RunHistory.generation).
    generation: int = 0


def tracked(event: Event) -> bool:
    """Whether the event's labels depend on stored run history."""
    return event.kind == "pipeline" and event.run_id is not None


def judge(history: RunHistory, event: Event) -> Verdict | None:
    """The verdict for a tracked pipeline event (None for any other event). Reads only."""
    if not tracked(event):
        return None
    assert event.run_id is not None
    key = pipeline_key(event.labels)
    generation = history.generation(key)
    status = event.status
    known = history.get_run(key, event.run_id)
    old_news = None
    record: RunRecord | None = RunRecord(event.run_id, event.run_order, status)
    if known is not None and known.status in TERMINAL_STATUSES:
        if status not in TERMINAL_STATUSES:
            # A late progress update for a finished run is history: the run stays finished.
            record = None
            old_news = f"run {event.run_id} had already finished ({known.status})"
        elif status == known.status:
            # Jenkins' COMPLETED then FINALIZED, a sender's retry: reported once.
            old_news = f"run {event.run_id} had already reported {status}"
            if known.run_order == event.run_order:
                record = None  # nothing to write: the pipeline's history stays as it is

    run = RunRecord(event.run_id, event.run_order, status)
    previous = [
        r
        for r in history.finished_runs_before(key, run, MAX_STREAK)
        if r.status in VERDICT_STATUSES
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
    finished = status in TERMINAL_STATUSES and (known is None or known.status != status)
    return Verdict(transition, streak, finished, old_news, record, generation)


def apply_verdict(event: Event, verdict: Verdict | None) -> bool:
    """Label the event with its verdict; True when it finished its run (see Verdict)."""
    if verdict is None:
        return event.kind == "pipeline" and event.status in TERMINAL_STATUSES
    event.labels["transition"] = verdict.transition
    event.labels["failure_streak"] = str(verdict.streak)
    event.old_news = verdict.old_news
    return verdict.finished_run


def record_run(tx: WriteTx, event: Event, verdict: Verdict | None) -> None:
    """Store what the verdict says the event's run now is."""
    if verdict is not None and verdict.record is not None:
        tx.save_run(pipeline_key(event.labels), verdict.record)


def still_holds(history: RunHistory, event: Event, verdict: Verdict | None) -> bool:
    """Whether `verdict` is what judging the event against `history` would give now: its
    pipeline has not been written since it was judged."""
    if verdict is None:
        return not tracked(event)
    return tracked(event) and history.generation(pipeline_key(event.labels)) == verdict.generation


def apply_pipeline_state(tx: WriteTx, event: Event) -> bool:
    """Judge, record and label one event in one transaction; see apply_verdict."""
    verdict = judge(tx, event)
    record_run(tx, event, verdict)
    return apply_verdict(event, verdict)
