"""Pipeline transitions and failure streaks, computed against each real store."""

from __future__ import annotations

from app.events import Event
from app.pipeline_state import apply_pipeline_state
from app.store import Store, WriteTx
from providers.sample import run_event
from stores import Backend


async def record(store: Store, run: int, status: str, branch: str = "main") -> Event:
    event = run_event(run, status, branch)

    def write(tx: WriteTx) -> None:
        apply_pipeline_state(tx, event)

    await store.write(write)
    return event


def state(event: Event) -> tuple[str, str]:
    return event.labels["transition"], event.labels["failure_streak"]


async def test_broken_still_failing_fixed(store: Store) -> None:
    """A success→failure→failure→success history yields broken, still_failing, fixed."""
    assert state(await record(store, 1, "success")) == ("unchanged", "0")
    assert state(await record(store, 2, "failure")) == ("broken", "1")
    assert state(await record(store, 3, "failure")) == ("still_failing", "2")
    assert state(await record(store, 4, "unstable")) == ("still_failing", "3")
    assert state(await record(store, 5, "success")) == ("fixed", "0")
    assert state(await record(store, 6, "success")) == ("unchanged", "0")


async def test_late_running_does_not_reopen_finished_run(store: Store) -> None:
    """A `running` delivered after the run's `failure` leaves the run failed."""
    await record(store, 1, "success")
    await record(store, 2, "failure")
    late = await record(store, 2, "running")
    assert state(late) == ("unchanged", "0")
    assert state(await record(store, 3, "failure")) == ("still_failing", "2")


async def test_duplicate_completion_counts_once(store: Store) -> None:
    """COMPLETED then FINALIZED for one run give identical labels and one streak step."""
    first = await record(store, 7, "failure")
    second = await record(store, 7, "failure")
    assert state(first) == state(second) == ("broken", "1")
    assert state(await record(store, 8, "failure")) == ("still_failing", "2")


async def test_older_run_arriving_late_uses_its_own_predecessors(store: Store) -> None:
    """Run 2's failure arriving after run 3's success is judged against run 1, not run 3."""
    await record(store, 1, "success")
    await record(store, 3, "success")
    assert state(await record(store, 2, "failure")) == ("broken", "1")
    assert state(await record(store, 4, "failure")) == ("broken", "1")


async def test_retried_run_that_passes_is_fixed(store: Store) -> None:
    """A GitLab retry keeps the pipeline id: failure then success of one run is `fixed`."""
    await record(store, 10, "failure")
    assert state(await record(store, 10, "success")) == ("fixed", "0")


async def test_cancelled_runs_do_not_break_a_streak(store: Store) -> None:
    """Cancelled runs are neither failures nor fixes."""
    await record(store, 1, "failure")
    assert state(await record(store, 2, "cancelled")) == ("unchanged", "1")
    assert state(await record(store, 3, "failure")) == ("still_failing", "2")


async def test_branches_are_separate_pipelines(store: Store) -> None:
    """A failure on one branch does not make another branch's failure `still_failing`."""
    await record(store, 1, "failure", branch="main")
    assert state(await record(store, 2, "failure", branch="dev")) == ("broken", "1")


async def test_state_survives_reopening_the_store(backend: Backend) -> None:
    """History is on disk: a new store on the same database continues the streak."""
    first = backend.store()
    await first.start()
    await record(first, 1, "failure")
    await first.close()
    second = backend.store()
    await second.start()
    try:
        assert state(await record(second, 2, "failure")) == ("still_failing", "2")
    finally:
        await second.close()
