"""Polling CI APIs end to end: local servers speaking each API, the real bus and store."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from app.accept import Intake, accept
from app.bus.plan import plan
from app.bus.worker import Bus
from app.events import Event
from app.pollers.api import RateInfo
from app.pollers.health import after_poll
from app.pollers.scheduler import Scheduler
from app.routing.config import RoutingConfig, parse_config
from app.sources import SOURCE_MODULES
from app.sources.base import JsonDocument
from app.store import Store
from app.store.polls import SourceHealth
from busharness import running_bus, wait_for
from ci_apis import FakeGitHub, FakeGitLab, FakeJenkins, github_run, gitlab_pipeline, iso
from fixtures import fixtures_dir
from providers.webhook import FakeReceiver
from stores import Backend, SqliteBackend

REPO = "octo-org/octo-repo"
CI_WORKFLOW = 1903133


class Clock:
    """The scheduler's clock, moved by the test (intervals and pauses without waiting)."""

    def __init__(self, now: float | None = None) -> None:
        self.now = time.time() if now is None else now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def routes(receiver: FakeReceiver, sources: str) -> RoutingConfig:
    text = f"""channels:
  hook: {{ type: webhook, url: "{receiver.base_url}/in" }}
routes:
  - matchers: ['status=~"failure|unstable"']
    to: [hook]
sources:
{sources}"""
    return parse_config(text.encode(), "routes.yaml", env={})


def github_poll(api: FakeGitHub, extra: str = "") -> str:
    return f"""  github:
    poll: {{ url: "{api.base_url}", token: {api.token}, repos: [{REPO}]{extra} }}
"""


def gitlab_poll(api: FakeGitLab, extra: str = "") -> str:
    return f"""  gitlab:
    poll: {{ url: "{api.base_url}", token: {api.token}, projects: [group/app]{extra} }}
"""


def jenkins_poll(api: FakeJenkins, extra: str = "") -> str:
    return f"""  jenkins:
    poll: {{ url: "{api.base_url}", user: {api.user}, token: {api.token}, jobs: [asgard]{extra} }}
"""


@asynccontextmanager
async def polling(
    backend: Backend, config: RoutingConfig, clock: Clock, owner: str = "replica-a"
) -> AsyncIterator[tuple[Scheduler, Store]]:
    channels = {"hook": config.channels["hook"].model_dump()}
    async with running_bus(backend, channels) as (bus, store):
        scheduler = Scheduler(
            store, Intake(store, bus), lambda: config, owner, retry_delay=0.01, clock=clock
        )
        try:
            yield scheduler, store
        finally:
            await scheduler.close()


async def events(store: Store) -> list[dict[str, Any]]:
    return await store.read(lambda tx: tx.list_events(limit=1000))


async def settled(receiver: FakeReceiver, count: int) -> list[Any]:
    """The messages the receiver got, once `count` arrived and no more came."""
    await wait_for(lambda: len(receiver.requests) >= count)
    await asyncio.sleep(0.3)
    return [e for r in receiver.requests for e in r.json()["events"]]


def webhook_event(source: str, fixture: str) -> Event:
    """What the source module makes of a real webhook payload (as POST /hooks does)."""
    entry = json.loads((fixtures_dir() / "index.json").read_text())
    headers = next(
        {k.lower(): v for k, v in f.get("event_headers", {}).items()}
        for f in entry["fixtures"]
        if f["file"] == fixture
    )
    body = (fixtures_dir() / fixture).read_text()
    [event] = SOURCE_MODULES[source].parse(headers, JsonDocument(body))
    return event


def stamp(text: str) -> float:
    return datetime.fromisoformat(text.replace(" UTC", "+00:00").replace("Z", "+00:00")).timestamp()


# --- GitHub ----------------------------------------------------------------------------


async def test_github_first_poll_is_silent_then_a_new_failed_run_is_one_message(
    backend: Backend, fake_github: FakeGitHub, fake_receiver: FakeReceiver
) -> None:
    """History is recorded silently; a run that fails after it is one event and message;
    an unchanged answer (304, free of rate limit) changes nothing."""
    clock = Clock()
    fake_github.repo(REPO, (CI_WORKFLOW, "CI"))
    old = github_run(REPO, 100, 7, "completed", "failure", updated_at=iso(clock.now - 3600))
    fake_github.put(REPO, old)
    config = routes(fake_receiver, github_poll(fake_github))
    async with polling(backend, config, clock) as (scheduler, store):
        assert await scheduler.poll_due() == [f"github:repo:{REPO}"]
        assert await events(store) == []
        clock.advance(61)
        fake_github.put(
            REPO, github_run(REPO, 101, 8, "in_progress", None, updated_at=iso(clock.now))
        )
        await scheduler.poll_due()
        clock.advance(61)
        fake_github.put(
            REPO, github_run(REPO, 101, 8, "completed", "failure", updated_at=iso(clock.now))
        )
        await scheduler.poll_due()
        told = await settled(fake_receiver, 1)
        remaining = fake_github.remaining
        clock.advance(61)
        await scheduler.poll_due()
        stored = await events(store)
    assert [(e["labels"]["status"], e["labels"]["run_number"]) for e in stored] == [
        ("failure", "8"),
        ("running", "8"),
    ]
    assert stored[0]["labels"]["workflow"] == "CI" and stored[0]["labels"]["transition"] == "broken"
    assert [e["labels"]["status"] for e in told] == ["failure"]
    runs = [r for r in fake_github.requests if r.path.endswith("/actions/runs")]
    assert len(runs) == 4 and runs[-1].headers["if-none-match"].startswith('W/"')
    assert fake_github.remaining == remaining  # the 304 cost nothing
    assert len(fake_receiver.requests) == 1


async def test_github_rate_limit_pauses_every_poll_until_the_reset(
    backend: Backend, fake_github: FakeGitHub, fake_receiver: FakeReceiver
) -> None:
    """A 403 at 0 remaining pauses the CI system until x-ratelimit-reset; no request is
    made meanwhile; after the reset polls resume."""
    clock = Clock()
    fake_github.repo(REPO, (CI_WORKFLOW, "CI"))
    fake_github.remaining = 0
    fake_github.reset_at = clock.now + 600
    config = routes(fake_receiver, github_poll(fake_github))
    async with polling(backend, config, clock) as (scheduler, store):
        await scheduler.poll_due()
        [health] = await store.read(lambda tx: tx.sources_health())
        assert health.paused_until >= fake_github.reset_at - 1
        assert "rate limited" in (health.pause_reason or "")
        clock.advance(120)
        assert await scheduler.poll_due() == []
        assert len(fake_github.requests) == 1
        fake_github.remaining = 5000
        clock.now = fake_github.reset_at + 1
        assert await scheduler.poll_due() == [f"github:repo:{REPO}"]
        [health] = await store.read(lambda tx: tx.sources_health())
        assert health.pause_reason is None and health.rate_remaining == 4999


async def test_retry_after_429_is_honoured(
    backend: Backend, fake_github: FakeGitHub, fake_receiver: FakeReceiver
) -> None:
    """A 429 with Retry-After pauses polls for that long."""
    fake_github.repo(REPO)
    fake_github.force("http_429")  # Retry-After: 7
    config = routes(fake_receiver, github_poll(fake_github))
    before = time.time()
    async with polling(backend, config, Clock()) as (scheduler, store):
        await scheduler.poll_due()
        [health] = await store.read(lambda tx: tx.sources_health())
    assert before + 6 <= health.paused_until <= time.time() + 8


# --- the same run from a webhook and a poll ----------------------------------------------


async def test_polled_runs_are_the_webhooks_events(
    backend: Backend,
    fake_github: FakeGitHub,
    fake_gitlab: FakeGitLab,
    fake_jenkins: FakeJenkins,
    fake_receiver: FakeReceiver,
) -> None:
    """A run served by each API from a real webhook payload's facts becomes an event with
    the webhook's labels, fingerprint, run identity and title."""
    hook_gh_file = "github/workflow_run.completed.failure.json"
    hook_gh = webhook_event("github", hook_gh_file)
    payload = json.loads((fixtures_dir() / hook_gh_file).read_text())
    # Today's API lists every run with its actor; this 2021 capture's run object predates
    # the field, and its webhook names the same account as `sender`.
    run = {"actor": payload["sender"], **payload["workflow_run"]}
    fake_github.repo(hook_gh.labels["project"], (run["workflow_id"], payload["workflow"]["name"]))
    fake_github.put(hook_gh.labels["project"], run)

    hook_gl = webhook_event("gitlab", "gitlab/pipeline_hook.failed.json")
    hook = json.loads((fixtures_dir() / "gitlab/pipeline_hook.failed.json").read_text())
    attributes = hook["object_attributes"]
    project = fake_gitlab.project(hook["project"]["id"], hook["project"]["path_with_namespace"])
    project["web_url"] = hook["project"]["web_url"]
    finished = iso(stamp(attributes["finished_at"]))
    fields = ("iid", "name", "ref", "tag", "sha", "source", "duration")
    fake_gitlab.put(
        gitlab_pipeline(
            project,
            attributes["id"],
            attributes["status"],
            **{k: attributes[k] for k in fields},
            created_at=iso(stamp(attributes["created_at"])),
            finished_at=finished,
            updated_at=finished,
            user={"username": hook["user"]["username"]},
        )
    )

    hook_jk = webhook_event("jenkins", "jenkins/notification_plugin.completed.success.json")
    scm = json.loads(
        (fixtures_dir() / "jenkins/notification_plugin.completed.success.json").read_text()
    )["build"]["scm"]
    clock = Clock()
    fake_jenkins.add_build(
        "asgard",
        18,
        "SUCCESS",
        started=clock.now - 120,
        duration_s=60,
        branch=scm["branch"],
        commit=scm["commit"],
    )

    back = ", look_back: 30d"
    sources = (
        github_poll(fake_github, back).replace(REPO, hook_gh.labels["project"])
        + gitlab_poll(fake_gitlab, back).replace("group/app", hook_gl.labels["project"])
        + jenkins_poll(fake_jenkins, back)
    )
    config = routes(fake_receiver, sources)
    # Each API polled as of when its run finished.
    polled: dict[str, dict[str, Any]] = {}
    for source, when in (
        ("github", stamp(run["updated_at"]) + 60),
        ("gitlab", stamp(finished) + 60),
        ("jenkins", clock.now),
    ):
        async with polling(backend, _only(config, source), Clock(when)) as (scheduler, store):
            await scheduler.poll_due()
            polled[source] = (await events(store))[0]  # the newest
    for source, webhook in (("github", hook_gh), ("gitlab", hook_gl), ("jenkins", hook_jk)):
        event = polled[source]
        expected = {**webhook.labels, "transition": event["labels"]["transition"]}
        expected.pop("failure_streak", None)
        got = {k: v for k, v in event["labels"].items() if k != "failure_streak"}
        assert got == expected, source
        assert (event["fingerprint"], event["run_id"], event["title"]) == (
            webhook.fingerprint,
            webhook.run_id,
            webhook.title,
        ), source


async def test_webhook_and_poll_of_one_run_are_one_notification(
    backend: Backend, fake_github: FakeGitHub, fake_receiver: FakeReceiver
) -> None:
    """Whichever comes first, a run told by its webhook and seen by a poll (and by a poll
    and then its webhook) is notified once."""
    fixture = "github/workflow_run.completed.failure.json"
    payload = json.loads((fixtures_dir() / fixture).read_text())
    run = payload["workflow_run"]
    repo = payload["repository"]["full_name"]
    fake_github.repo(repo, (run["workflow_id"], payload["workflow"]["name"]))
    clock = Clock(stamp(run["updated_at"]) - 3600)
    config = routes(fake_receiver, github_poll(fake_github).replace(REPO, repo))
    async with polling(backend, config, clock) as (scheduler, store):
        await scheduler.poll_due()  # nothing yet: the first poll learns the empty list
        # Webhook first, then the poll.
        await accept(
            scheduler.intake,
            [webhook_event("github", fixture)],
            "delivery-1",
            partial(plan, config),
        )
        fake_github.put(repo, run)
        clock.now = stamp(run["updated_at"]) + 30
        await scheduler.poll_due()
        await settled(fake_receiver, 1)
        assert len(await events(store)) == 1
        # A re-run of it (attempt 2) fails: the poll first, then its webhook.
        rerun = {**run, "run_attempt": 2, "updated_at": iso(clock.now + 60)}
        fake_github.put(repo, rerun)
        clock.advance(120)
        await scheduler.poll_due()
        await settled(fake_receiver, 2)
        body = {**payload, "workflow_run": rerun}
        [late] = SOURCE_MODULES["github"].parse({"x-github-event": "workflow_run"}, body)
        await accept(scheduler.intake, [late], "delivery-2", partial(plan, config))
        told = await settled(fake_receiver, 2)
        stored = await events(store)
    assert [e["run_id"] for e in told] == [f"{run['id']}:1", f"{run['id']}:2"]
    # The late webhook is stored as old news, suppressed: no second message.
    assert len(stored) == 3 and [o["stage"] for o in stored[0]["outcomes"]] == ["old_news"]


# --- GitLab ----------------------------------------------------------------------------


async def test_gitlab_reads_every_page_of_what_changed(
    backend: Backend, fake_gitlab: FakeGitLab, fake_receiver: FakeReceiver
) -> None:
    """Pipelines updated since the cursor are read with updated_after, oldest first, over
    every page; each is told once, and the next poll repeats none."""
    clock = Clock()
    project = fake_gitlab.project(7, "group/app")
    earlier = iso(clock.now - 7200)
    for pid in range(1, 121):
        fake_gitlab.put(gitlab_pipeline(project, pid, "running", updated_at=earlier))
    config = routes(fake_receiver, gitlab_poll(fake_gitlab))
    async with polling(backend, config, clock) as (scheduler, store):
        await scheduler.poll_due()
        assert await events(store) == []
        clock.advance(90)
        for pid in range(1, 121):
            status = "failed" if pid == 60 else "success"
            when = iso(clock.now - 30 + pid / 10)
            fake_gitlab.put(gitlab_pipeline(project, pid, status, updated_at=when))
        await scheduler.poll_due()
        told = await settled(fake_receiver, 1)
        clock.advance(90)
        await scheduler.poll_due()
        stored = await events(store)
    assert len(stored) == 120 and len({e["run_id"] for e in stored}) == 120
    assert [e["labels"]["pipeline_id"] for e in told] == ["60"]
    lists = [r for r in fake_gitlab.requests if r.path == "/api/v4/projects/7/pipelines"]
    # The first poll, the two pages of the 120 changes, then the next poll (from the
    # newest change read, less the overlap re-read for late writes).
    assert [r.query["page"] for r in lists][:3] == ["1", "1", "2"]
    assert all(
        (r.query["order_by"], r.query["sort"], r.query["per_page"]) == ("updated_at", "asc", "100")
        for r in lists
    )
    assert stamp(lists[-1].query["updated_after"]) > stamp(lists[1].query["updated_after"])


async def test_an_api_down_opens_the_breaker_then_polls_resume(
    backend: Backend,
    fake_gitlab: FakeGitLab,
    fake_receiver: FakeReceiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A CI API that stops answering is not hammered: after three failed polls nothing is
    asked until the pause ends; the probe then succeeds and what failed meanwhile is told."""
    caplog.set_level(logging.INFO)
    clock = Clock()
    project = fake_gitlab.project(7, "group/app")
    config = routes(fake_receiver, gitlab_poll(fake_gitlab))
    async with polling(backend, config, clock) as (scheduler, store):
        await scheduler.poll_due()
        fake_gitlab.down_for(3600)
        for _ in range(3):
            clock.advance(61)
            await scheduler.poll_due()
        [health] = await store.read(lambda tx: tx.sources_health())
        assert health.down_since is not None and health.failures == 3
        asked = len(fake_gitlab.requests)
        clock.advance(20)
        assert await scheduler.poll_due() == []
        assert len(fake_gitlab.requests) == asked
        fake_gitlab.down_for(0)
        fake_gitlab.put(gitlab_pipeline(project, 9, "failed", updated_at=iso(clock.now)))
        clock.advance(41)  # the pause is over and the target due again: the probe
        await scheduler.poll_due()
        told = await settled(fake_receiver, 1)
        [health] = await store.read(lambda tx: tx.sources_health())
    assert health == SourceHealth("gitlab", rate_remaining=None, rate_reset=None)
    assert [e["labels"]["pipeline_id"] for e in told] == ["9"]
    # Said once when it stopped answering, once when the breaker opened, once when back.
    said = [r.getMessage() for r in caplog.records if "CI API" in r.getMessage()]
    assert said == [
        "CI API not answering",
        "CI API unreachable: polls paused (circuit breaker open)",
        "CI API reachable again",
    ]


# --- state in the store ------------------------------------------------------------------


async def test_a_restart_resumes_without_repeats(
    backend: Backend, fake_github: FakeGitHub, fake_receiver: FakeReceiver
) -> None:
    """After a restart the saved ETag and runs seen carry on: nothing is told twice."""
    clock = Clock()
    fake_github.repo(REPO, (CI_WORKFLOW, "CI"))
    config = routes(fake_receiver, github_poll(fake_github))
    async with polling(backend, config, clock) as (scheduler, _):
        await scheduler.poll_due()
        fake_github.put(
            REPO, github_run(REPO, 201, 1, "completed", "failure", updated_at=iso(clock.now))
        )
        clock.advance(61)
        await scheduler.poll_due()
        await settled(fake_receiver, 1)
    clock.advance(61)
    async with polling(backend, config, clock) as (scheduler, store):
        await scheduler.poll_due()
        assert fake_github.requests[-1].headers.get("if-none-match")
        fake_github.put(
            REPO, github_run(REPO, 202, 2, "completed", "failure", updated_at=iso(clock.now))
        )
        clock.advance(61)
        await scheduler.poll_due()
        told = await settled(fake_receiver, 2)
        stored = await events(store)
    assert [e["labels"]["run_number"] for e in told] == ["1", "2"]
    assert len(stored) == 2


async def test_two_replicas_poll_a_target_once(
    backend: Backend, fake_jenkins: FakeJenkins, fake_receiver: FakeReceiver
) -> None:
    """Two replicas due at once: one polls the target, one event is stored."""
    clock = Clock()
    fake_jenkins.add_build("asgard", 1, "FAILURE", started=clock.now - 60, duration_s=30)
    config = routes(fake_receiver, jenkins_poll(fake_jenkins, ", look_back: 1h"))
    other = backend.store()
    await other.start()
    try:
        async with polling(backend, config, clock) as (first, store):
            second = Scheduler(
                other, Intake(other, first.intake.bus), lambda: config, "replica-b", clock=clock
            )
            try:
                polled = await asyncio.gather(first.poll_due(), second.poll_due())
            finally:
                await second.close()
            stored = await events(store)
    finally:
        await other.close()
    assert sorted(len(p) for p in polled) == [1, 1]  # both were due, one got the claim
    assert len(fake_jenkins.requests) == 1 and len(stored) == 1
    tree = fake_jenkins.requests[0].query["tree"]
    assert tree.startswith("name,url,builds[number,url,building,result") and "{0,20}" in tree


def _only(config: RoutingConfig, source: str) -> RoutingConfig:
    return replace(config, polls={source: config.polls[source]})


# --- what is watched -----------------------------------------------------------------------


async def test_watched_folders_groups_workflows_and_branches(
    backend: Backend,
    fake_jenkins: FakeJenkins,
    fake_gitlab: FakeGitLab,
    fake_github: FakeGitHub,
    fake_receiver: FakeReceiver,
) -> None:
    """A Jenkins folder reports its jobs' builds, a GitLab group its projects' pipelines,
    and a GitHub repository only the workflows and branches it names."""
    clock = Clock()
    fake_jenkins.job("team", folder=True)
    fake_jenkins.add_build("team/api", 3, "FAILURE", started=clock.now - 90, duration_s=30)
    fake_jenkins.add_build("team/web", 4, None, started=clock.now - 10)
    web = fake_gitlab.project(11, "platform/web")
    db = fake_gitlab.project(12, "platform/sub/db")
    fake_gitlab.groups["platform"] = [11, 12]
    fake_gitlab.put(gitlab_pipeline(web, 1, "failed", updated_at=iso(clock.now - 30)))
    fake_gitlab.put(gitlab_pipeline(db, 2, "success", updated_at=iso(clock.now - 30)))
    fake_github.repo(REPO, (1, "CI"), (2, "Nightly"))
    for run_id, workflow, branch in ((31, 1, "main"), (32, 2, "main"), (33, 1, "topic")):
        fake_github.put(REPO, github_run(REPO, run_id, run_id, "completed", "failure",
                                         workflow_id=workflow, head_branch=branch,
                                         updated_at=iso(clock.now - 30)))  # fmt: skip
    back = ", look_back: 1h"
    sources = (
        jenkins_poll(fake_jenkins, back).replace("[asgard]", "[team]")
        + gitlab_poll(fake_gitlab, back).replace("projects: [group/app]", "groups: [platform]")
        + github_poll(fake_github, back).replace(
            f"[{REPO}]", f"[{{ repo: {REPO}, workflows: [CI], branches: [main] }}]"
        )
    )
    config = routes(fake_receiver, sources)
    async with polling(backend, config, clock) as (scheduler, store):
        await scheduler.poll_due()
        stored = await events(store)
    assert sorted(e["title"] for e in stored) == [
        f"{REPO} · CI #31 failed on main",
        "platform/sub/db · Build pipeline #2 succeeded on main",
        "platform/web · Build pipeline #1 failed on main",
        "team/api #3 failed",
        "team/web #4 running",
    ]


async def test_an_answer_that_is_not_the_api_backs_the_target_off(
    backend: Backend, fake_github: FakeGitHub, fake_receiver: FakeReceiver
) -> None:
    """A sign-in page or a body of the wrong shape fails that target with the reason, backs
    it off (twice the interval, then doubling), stores nothing and keeps the state it had."""
    clock = Clock()
    fake_github.repo(REPO)
    config = routes(fake_receiver, github_poll(fake_github))
    async with polling(backend, config, clock) as (scheduler, store):
        await scheduler.poll_due()
        [good] = await store.read(lambda tx: tx.poll_targets([f"github:repo:{REPO}"]))
        fake_github.force("login_page", "wrong_shape")
        clock.advance(61)
        await scheduler.poll_due()
        [first] = await store.read(lambda tx: tx.poll_targets([f"github:repo:{REPO}"]))
        clock.advance(61)
        assert await scheduler.poll_due() == []  # backing off until first.retry_at
        clock.now = first.retry_at
        await scheduler.poll_due()
        [second] = await store.read(lambda tx: tx.poll_targets([f"github:repo:{REPO}"]))
        assert await events(store) == []
    assert first.last_error == "GitHub workflow runs: answer is not JSON"
    assert first.retry_at == (first.last_attempt or 0) + 120 and first.state == good.state
    assert second.last_error == "GitHub workflow runs: answer has no workflow_runs list"
    assert second.retry_at == (second.last_attempt or 0) + 240 and second.failures == 2


def test_the_last_requests_of_a_rate_limit_window_are_kept() -> None:
    """With few requests left until the reset, polls pause until the reset instead of
    spending the last ones; a later full window lifts the pause."""
    now = 1000.0
    low = after_poll(SourceHealth("github"), None, RateInfo(remaining=3, reset=now + 900), now)
    assert low.paused_until == now + 900 and "3 requests left" in (low.pause_reason or "")
    fresh = after_poll(low, None, RateInfo(remaining=4999, reset=now + 4500), now + 901)
    assert fresh.paused_until == 0 and fresh.pause_reason is None


async def test_requests_per_poll_cycle_for_a_realistic_setup(
    store: Store,
    fake_jenkins: FakeJenkins,
    fake_gitlab: FakeGitLab,
    fake_github: FakeGitHub,
    fake_receiver: FakeReceiver,
) -> None:
    """50 Jenkins jobs, 20 GitLab projects, 20 GitHub repositories: an idle cycle makes one
    request per target and costs no GitHub rate limit (all 304)."""
    clock = Clock()
    jobs = [f"folder/job{i}" for i in range(50)]
    for i, job in enumerate(jobs):
        for number in range(1, 21):
            fake_jenkins.add_build(job, number, "SUCCESS", started=clock.now - 9000 + i + number)
    projects = [fake_gitlab.project(100 + i, f"group/app{i}") for i in range(20)]
    for project in projects:
        fake_gitlab.put(gitlab_pipeline(project, project["id"], "success",
                                        updated_at=iso(clock.now - 600)))  # fmt: skip
    repos = [f"org/repo{i}" for i in range(20)]
    for i, repo in enumerate(repos):
        fake_github.repo(repo, (CI_WORKFLOW, "CI"))
        fake_github.put(repo, github_run(repo, 500 + i, 1, "completed", "success",
                                         updated_at=iso(clock.now - 600)))  # fmt: skip
    sources = f"""  jenkins:
    poll: {{ url: "{fake_jenkins.base_url}", user: {fake_jenkins.user},
             token: {fake_jenkins.token}, jobs: [{", ".join(jobs)}] }}
  gitlab:
    poll: {{ url: "{fake_gitlab.base_url}", token: {fake_gitlab.token},
             projects: [{", ".join(p["path_with_namespace"] for p in projects)}] }}
  github:
    poll: {{ url: "{fake_github.base_url}", token: {fake_github.token},
             repos: [{", ".join(repos)}] }}
"""
    config = routes(fake_receiver, sources)
    apis = (fake_jenkins, fake_gitlab, fake_github)
    scheduler = Scheduler(store, Intake(store, Bus(store)), lambda: config, "a", clock=clock)
    try:
        counts = []
        for _ in range(2):
            before = [len(api.requests) for api in apis]
            spent = fake_github.remaining
            while len(await scheduler.poll_due()) > 0:
                pass  # CONCURRENCY per CI system at a time: the rest of the cycle follows
            counts.append([len(api.requests) - b for api, b in zip(apis, before, strict=True)])
            counts[-1].append(spent - fake_github.remaining)
            clock.advance(61)
    finally:
        await scheduler.close()
    # First cycle: GitLab also reads each project once, GitHub each repository's workflows.
    assert counts == [[50, 40, 40, 40], [50, 20, 20, 0]]
    assert await events(store) == []


async def test_hostile_answers_are_refused_without_sending_the_token_elsewhere(
    store: Store, fake_github: FakeGitHub, fake_receiver: FakeReceiver
) -> None:
    """A Link to another host is not followed (it would get the token), a body over 8 MB
    and an answer that never comes fail the poll with the reason; nothing is stored."""
    clock = Clock()
    fake_github.repo(REPO)
    config = routes(fake_receiver, github_poll(fake_github, ", timeout: 1s"))
    scheduler = Scheduler(
        store, Intake(store, Bus(store)), lambda: config, "a", clock=clock, retry_delay=0.01
    )
    fake_github.hang_seconds = 3
    errors = []
    try:
        await scheduler.poll_due()  # a first poll never reads past the first page
        for forced in (["link_elsewhere"], ["huge"], ["hang"] * 3):
            fake_github.force(*forced)
            clock.advance(3600)
            await scheduler.poll_due()
            [row] = await store.read(lambda tx: tx.poll_targets([f"github:repo:{REPO}"]))
            errors.append(row.last_error)
    finally:
        await scheduler.close()
        fake_github.hang_seconds = FakeGitHub.hang_seconds
    assert errors == [
        "the API linked to another address; not followed",
        "answer over 8 MB",
        "no answer within 1s",
    ]
    assert await events(store) == []


async def test_a_store_that_cannot_answer_is_said_once(
    tmp_path: Path,
    fake_github: FakeGitHub,
    fake_receiver: FakeReceiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """While the store cannot be read the schedule is retried every tick and logged once."""
    backend = SqliteBackend(tmp_path)
    store = backend.store()
    await store.start()
    await store.close()
    config = routes(fake_receiver, github_poll(fake_github))
    scheduler = Scheduler(store, Intake(store, Bus(store)), lambda: config, "a", tick=0.02)
    task = asyncio.create_task(scheduler.run())
    await asyncio.sleep(0.3)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await scheduler.client.aclose()
    said = [r.getMessage() for r in caplog.records if "poll schedule" in r.getMessage()]
    assert said == ["poll schedule not read"]
    assert fake_github.requests == []


async def test_a_target_moved_to_another_api_starts_afresh(
    store: Store, fake_github: FakeGitHub, fake_receiver: FakeReceiver
) -> None:
    """When a poll block's url changes, the saved ETag and runs seen are dropped: the next
    poll is a first poll again (silent), not a diff against another server's answers."""
    clock = Clock()
    fake_github.repo(REPO, (CI_WORKFLOW, "CI"))
    fake_github.put(
        REPO, github_run(REPO, 1, 1, "completed", "failure", updated_at=iso(clock.now - 9))
    )
    configs = [routes(fake_receiver, github_poll(fake_github, ", look_back: 1m"))]
    scheduler = Scheduler(store, Intake(store, Bus(store)), lambda: configs[-1], "a", clock=clock)
    try:
        await scheduler.poll_due()  # the run is within the look-back: told
        moved = fake_github.base_url.replace("127.0.0.1", "localhost")
        configs.append(
            routes(fake_receiver, github_poll(fake_github).replace(fake_github.base_url, moved))
        )
        clock.advance(61)
        await scheduler.poll_due()
    finally:
        await scheduler.close()
    _, second = (r for r in fake_github.requests if r.path.endswith("/runs"))
    assert "if-none-match" not in second.headers
    assert len(await events(store)) == 1


async def test_github_follows_the_next_page_only_while_a_page_is_all_new(
    store: Store, fake_github: FakeGitHub, fake_receiver: FakeReceiver
) -> None:
    """The first poll reads one page (history); later, 70 runs started since the last poll
    span two pages of 50 and both are read; the third page (older runs) is not."""
    clock = Clock()
    fake_github.repo(REPO, (CI_WORKFLOW, "CI"))
    for run_id in range(1, 61):
        fake_github.put(REPO, github_run(REPO, run_id, run_id, "completed", "success",
                                         created_at=iso(clock.now - 7200 + run_id)))  # fmt: skip
    config = routes(fake_receiver, github_poll(fake_github))
    scheduler = Scheduler(store, Intake(store, Bus(store)), lambda: config, "a", clock=clock)
    try:
        await scheduler.poll_due()
        for run_id in range(61, 131):
            fake_github.put(REPO, github_run(REPO, run_id, run_id, "queued", None,
                                             created_at=iso(clock.now + run_id),
                                             updated_at=iso(clock.now + run_id)))  # fmt: skip
        clock.advance(200)
        await scheduler.poll_due()
    finally:
        await scheduler.close()
    pages = [r.query.get("page", "1") for r in fake_github.requests if r.path.endswith("/runs")]
    assert pages == ["1", "1", "2"]
    assert len(await events(store)) == 70


async def test_a_pipeline_whose_details_cannot_be_read_is_told_from_the_list(
    store: Store, fake_gitlab: FakeGitLab, fake_receiver: FakeReceiver
) -> None:
    """A listed pipeline answering 404 alone (deleted meanwhile) is still told, from the
    list, and the poll goes on: one run cannot block its target."""
    clock = Clock()
    project = fake_gitlab.project(7, "group/app")
    for pid in (1, 2):
        fake_gitlab.put(gitlab_pipeline(project, pid, "failed", updated_at=iso(clock.now - 5)))
    fake_gitlab.hidden.add(1)
    config = routes(fake_receiver, gitlab_poll(fake_gitlab, ", look_back: 1m"))
    scheduler = Scheduler(store, Intake(store, Bus(store)), lambda: config, "a", clock=clock)
    try:
        await scheduler.poll_due()
        [row] = await store.read(lambda tx: tx.poll_targets(["gitlab:project:group/app"]))
    finally:
        await scheduler.close()
    stored = await events(store)
    assert sorted(e["labels"]["pipeline_id"] for e in stored) == ["1", "2"]
    assert row.last_error is None and row.last_success is not None
