"""GitHub webhooks: Actions runs and jobs, check suites and runs, deployment statuses."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from typing import Any

from app.events import Event, Kind, Labels, Source, Status, base_labels
from app.sources.base import (
    Commit,
    Ignored,
    Int64,
    Malformed,
    NonEmpty,
    Payload,
    SourceAuth,
    Timestamp,
    Unauthorized,
    branch_name,
    ci_event,
    configured_secret,
    extend_labels,
    load,
    map_status,
)

# `status` while a run has not finished; GitHub reports the outcome in `conclusion` once
# `status` is "completed".
PROGRESS: dict[str, Status] = {
    "requested": "queued",
    "queued": "queued",
    "waiting": "queued",
    "pending": "queued",
    "in_progress": "running",
}
CONCLUSIONS: dict[str, Status] = {
    "success": "success",
    "neutral": "success",
    "failure": "failure",
    "timed_out": "failure",
    "startup_failure": "failure",
    # Waiting for a maintainer to approve (e.g. a first-time contributor's PR): nothing ran
    # yet, and GitHub resumes the same run after approval, so it must not be terminal.
    "action_required": "queued",
    "cancelled": "cancelled",
    "stale": "cancelled",
    "skipped": "skipped",
}
DEPLOYMENT_STATES: dict[str, Status] = {
    "pending": "queued",
    "queued": "queued",
    "waiting": "queued",
    "in_progress": "running",
    "success": "success",
    "failure": "failure",
    "error": "failure",
    # A newer deployment to the same environment superseded this one.
    "inactive": "cancelled",
}


class _Account(Payload):
    login: str | None = None


class _App(Payload):
    name: str | None = None


class _Repository(Payload):
    full_name: NonEmpty
    html_url: str | None = None
    owner: _Account | None = None


class _Envelope(Payload):
    repository: _Repository
    sender: _Account | None = None
    organization: _Account | None = None


class _Run(Payload):
    """What workflow runs/jobs and check suites/runs share."""

    id: Int64
    head_branch: str | None = None
    head_sha: str | None = None
    status: str | None = None
    conclusion: str | None = None
    html_url: str | None = None
    started_at: Timestamp = None
    completed_at: Timestamp = None
    created_at: Timestamp = None
    updated_at: Timestamp = None


class _WorkflowRun(_Run):
    name: str | None = None
    path: str | None = None
    display_title: str | None = None
    run_number: Int64 | None = None
    run_attempt: Int64 | None = None
    event: str | None = None
    run_started_at: Timestamp = None
    actor: _Account | None = None
    triggering_actor: _Account | None = None
    head_commit: Commit | None = None


class _Workflow(Payload):
    name: str | None = None


class WorkflowRunHook(_Envelope):
    workflow_run: _WorkflowRun
    workflow: _Workflow | None = None


class _WorkflowJob(_Run):
    name: str
    run_id: Int64 | None = None
    run_attempt: Int64 | None = None
    workflow_name: str | None = None
    runner_name: str | None = None


class WorkflowJobHook(_Envelope):
    workflow_job: _WorkflowJob


class _CheckSuite(_Run):
    app: _App | None = None


class CheckSuiteHook(_Envelope):
    check_suite: _CheckSuite


class _CheckRun(_CheckSuite):
    name: str
    check_suite: _CheckSuite | None = None


class CheckRunHook(_Envelope):
    check_run: _CheckRun


class _DeploymentStatus(Payload):
    state: str
    environment: str | None = None
    target_url: str | None = None
    log_url: str | None = None
    environment_url: str | None = None
    description: str | None = None
    creator: _Account | None = None
    created_at: Timestamp = None


class _Deployment(Payload):
    id: Int64
    ref: str | None = None
    sha: str | None = None
    task: str | None = None
    environment: str | None = None
    creator: _Account | None = None
    created_at: Timestamp = None


class DeploymentStatusHook(_Envelope):
    deployment_status: _DeploymentStatus
    deployment: _Deployment


def run_status(run: _Run, field: str) -> Status:
    if run.status == "completed":
        return map_status(CONCLUSIONS, run.conclusion, f"{field}.conclusion")
    return map_status(PROGRESS, run.status, f"{field}.status")


def _labels(
    hook: _Envelope,
    hook_name: str,
    kind: Kind,
    status: Status,
    pipeline: str,
    /,
    *,
    branch: str | None,
    commit: str | None,
    actor: str | None = None,
    environment: str | None = None,
    **extra: object,
) -> Labels:
    owner = hook.repository.owner or hook.organization
    labels = base_labels(
        source="github",
        kind=kind,
        status=status,
        project=hook.repository.full_name,
        pipeline=pipeline,
        branch=branch_name(branch),
        environment=environment,
        actor=actor or (hook.sender.login if hook.sender else None),
        commit=commit,
    )
    return extend_labels(
        labels, github_event=hook_name, repository_owner=owner.login if owner else None, **extra
    )


def _login(*accounts: _Account | None) -> str | None:
    return next((a.login for a in accounts if a is not None and a.login), None)


def _workflow_run(payload: Any) -> Event:
    hook = load(WorkflowRunHook, payload, "GitHub workflow_run payload")
    run = hook.workflow_run
    status = run_status(run, "workflow_run")
    # The workflow's name is stable across runs; a run's own name may be empty (octokit
    # examples) or per-run ("PR #166" for CodeQL default setup).
    workflow = (hook.workflow.name if hook.workflow else None) or run.name or run.path or "workflow"
    labels = _labels(
        hook,
        "workflow_run",
        "pipeline",
        status,
        workflow,
        branch=run.head_branch,
        commit=run.head_sha,
        actor=_login(run.actor, run.triggering_actor),
        author_email=run.head_commit.author_email() if run.head_commit else None,
        workflow=workflow,
        event=run.event,
        run_number=run.run_number,
        run_attempt=run.run_attempt,
    )
    run_id = str(run.id) if run.run_attempt is None else f"{run.id}:{run.run_attempt}"
    started = run.run_started_at or run.created_at
    return ci_event(
        labels,
        run=run_id,
        run_order=run.run_number,
        number=run.run_number,
        url=run.html_url,
        started_at=started,
        finished_at=run.updated_at if run.status == "completed" else None,
        annotations={"display_title": run.display_title},
    )


def _workflow_job(payload: Any) -> Event:
    hook = load(WorkflowJobHook, payload, "GitHub workflow_job payload")
    job = hook.workflow_job
    status = run_status(job, "workflow_job")
    workflow = job.workflow_name or "workflow"
    labels = _labels(
        hook,
        "workflow_job",
        "job",
        status,
        workflow,
        branch=job.head_branch,
        commit=job.head_sha,
        workflow=workflow,
        job=job.name,
        workflow_run_id=job.run_id,
        run_attempt=job.run_attempt,
        runner=job.runner_name,
    )
    return ci_event(
        labels,
        run=str(job.id),
        run_order=job.id,
        url=job.html_url,
        started_at=job.started_at,
        finished_at=job.completed_at,
    )


def _check_suite(payload: Any) -> Event:
    hook = load(CheckSuiteHook, payload, "GitHub check_suite payload")
    suite = hook.check_suite
    status = run_status(suite, "check_suite")
    app = (suite.app.name if suite.app else None) or "checks"
    labels = _labels(
        hook,
        "check_suite",
        "pipeline",
        status,
        app,
        branch=suite.head_branch,
        commit=suite.head_sha,
        app=app,
    )
    # Check suites have no page of their own and no run number; the commit's checks page is
    # the closest, and suite ids grow monotonically.
    repo_url = hook.repository.html_url
    url = f"{repo_url}/commit/{suite.head_sha}/checks" if repo_url and suite.head_sha else repo_url
    return ci_event(
        labels,
        run=str(suite.id),
        run_order=suite.id,
        url=url,
        started_at=suite.created_at,
        finished_at=suite.updated_at if suite.status == "completed" else None,
    )


def _check_run(payload: Any) -> Event:
    hook = load(CheckRunHook, payload, "GitHub check_run payload")
    run = hook.check_run
    status = run_status(run, "check_run")
    suite = run.check_suite
    app = (run.app.name if run.app else None) or "checks"
    labels = _labels(
        hook,
        "check_run",
        "job",
        status,
        app,
        branch=suite.head_branch if suite else None,
        commit=run.head_sha,
        app=app,
        job=run.name,
        check_suite_id=suite.id if suite else None,
    )
    return ci_event(
        labels,
        run=str(run.id),
        run_order=run.id,
        url=run.html_url,
        started_at=run.started_at,
        finished_at=run.completed_at,
    )


def _deployment_status(payload: Any) -> Event:
    hook = load(DeploymentStatusHook, payload, "GitHub deployment_status payload")
    state, deployment = hook.deployment_status, hook.deployment
    status = map_status(DEPLOYMENT_STATES, state.state, "deployment_status.state")
    environment = state.environment or deployment.environment
    if not environment:
        raise Malformed("GitHub deployment_status payload names no environment")
    labels = _labels(
        hook,
        "deployment_status",
        "deployment",
        status,
        environment,
        branch=deployment.ref,
        environment=environment,
        commit=deployment.sha,
        actor=_login(state.creator, deployment.creator),
        task=deployment.task,
        deployment_id=deployment.id,
    )
    repo_url = hook.repository.html_url
    return ci_event(
        labels,
        run=str(deployment.id),
        tracked=False,
        subject=f"deployment to {environment}",
        url=state.log_url or state.target_url or (f"{repo_url}/deployments" if repo_url else None),
        started_at=deployment.created_at,
        finished_at=state.created_at if status not in ("queued", "running") else None,
        annotations={"description": state.description, "environment_url": state.environment_url},
    )


HANDLERS: dict[str, Callable[[Any], Event]] = {
    "workflow_run": _workflow_run,
    "workflow_job": _workflow_job,
    "check_suite": _check_suite,
    "check_run": _check_run,
    "deployment_status": _deployment_status,
}


class GitHubSource:
    """X-Hub-Signature-256 over the raw body; the event type comes from X-GitHub-Event."""

    name: Source = "github"

    def verify(self, headers: Mapping[str, str], body: bytes, auth: SourceAuth) -> None:
        secret = configured_secret(auth)
        if secret is None:
            return
        given = headers.get("x-hub-signature-256")
        if given is None:
            raise Unauthorized("missing X-Hub-Signature-256")
        digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(given.encode(), f"sha256={digest}".encode()):
            raise Unauthorized("X-Hub-Signature-256 does not match the body")

    def delivery_id(self, headers: Mapping[str, str]) -> str | None:
        return headers.get("x-github-delivery") or None

    def parse(self, headers: Mapping[str, str], payload: Any) -> list[Event]:
        event = headers.get("x-github-event")
        if not event:
            raise Malformed("missing X-GitHub-Event header")
        if event == "ping":
            raise Ignored("ping")
        handler = HANDLERS.get(event)
        if handler is None:
            raise Ignored(f"GitHub event {event!r} is not handled (handled: {', '.join(HANDLERS)})")
        return [handler(payload)]


SOURCE = GitHubSource()
