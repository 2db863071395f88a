"""GitLab webhooks: pipeline, job and deployment events."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from app.events import Event, Kind, Labels, Source, Status, base_labels
from app.sources.base import (
    Commit,
    DurationSeconds,
    Ignored,
    Int64,
    Malformed,
    NonEmpty,
    Payload,
    SourceAuth,
    Timestamp,
    branch_name,
    ci_event,
    extend_labels,
    load,
    map_status,
    require_token,
    url_path,
)

# Pipeline and job statuses share one vocabulary (Ci::HasStatus).
STATUSES: dict[str, Status] = {
    "created": "queued",
    "waiting_for_resource": "queued",
    "preparing": "queued",
    "waiting_for_callback": "queued",
    "pending": "queued",
    "scheduled": "queued",
    # Waiting for someone to press play; playing it continues the same job/pipeline, so it
    # must not be a terminal status.
    "manual": "queued",
    "running": "running",
    "success": "success",
    "failed": "failure",
    "canceling": "cancelled",
    "canceled": "cancelled",
    "skipped": "skipped",
}
DEPLOYMENT_STATUSES: dict[str, Status] = {
    "created": "queued",
    "blocked": "queued",
    "running": "running",
    "success": "success",
    "failed": "failure",
    "canceled": "cancelled",
    "skipped": "skipped",
}


class _Kind(Payload):
    object_kind: str


class _Project(Payload):
    path_with_namespace: str | None = None
    web_url: str | None = None


class _User(Payload):
    username: str | None = None


class _Hook(Payload):
    project: _Project | None = None
    user: _User | None = None


class _PipelineAttributes(Payload):
    id: Int64
    iid: Int64 | None = None
    name: str | None = None
    ref: str | None = None
    tag: bool | None = None
    sha: str | None = None
    source: str | None = None
    status: str
    created_at: Timestamp = None
    finished_at: Timestamp = None
    duration: DurationSeconds | None = None
    url: str | None = None


class PipelineHook(_Hook):
    object_attributes: _PipelineAttributes
    commit: Commit | None = None


class _JobPipeline(Payload):
    name: str | None = None


class _Repository(Payload):
    homepage: str | None = None


class _Environment(Payload):
    name: str | None = None


class JobHook(_Hook):
    ref: str | None = None
    tag: bool | None = None
    sha: str | None = None
    build_id: Int64
    build_name: str
    build_stage: str | None = None
    build_status: str
    build_started_at: Timestamp = None
    build_finished_at: Timestamp = None
    build_duration: DurationSeconds | None = None
    build_allow_failure: bool | None = None
    build_failure_reason: str | None = None
    pipeline_id: Int64 | None = None
    project_name: str | None = None
    # In job hooks `commit` describes the pipeline: its `name` is the pipeline's name.
    commit: _JobPipeline | None = None
    repository: _Repository | None = None
    environment: _Environment | None = None


class DeploymentHook(_Hook):
    status: str
    status_changed_at: Timestamp = None
    deployment_id: Int64
    deployable_url: str | None = None
    environment: NonEmpty
    environment_external_url: str | None = None
    ref: str | None = None
    short_sha: str | None = None
    commit_url: str | None = None
    commit_title: str | None = None


def project_path(hook: _Hook, homepage: str | None = None, name: str | None = None) -> str:
    """`group/sub/app`: path_with_namespace, else the path of the project's web URL."""
    project = hook.project
    if project and project.path_with_namespace:
        return project.path_with_namespace
    path = url_path(project.web_url if project else None) or url_path(homepage)
    if path or name:
        return path or str(name)
    raise Malformed("GitLab payload names no project (project.path_with_namespace, web_url)")


def _labels(
    hook: _Hook,
    kind: Kind,
    status: Status,
    project: str,
    pipeline: str,
    /,
    *,
    ref: str | None,
    tag: bool | None,
    commit: str | None,
    environment: str | None = None,
    **extra: object,
) -> Labels:
    labels = base_labels(
        source="gitlab",
        kind=kind,
        status=status,
        project=project,
        pipeline=pipeline,
        # A tag pipeline runs on no branch; its ref stays available as `ref`.
        branch=None if tag else branch_name(ref),
        environment=environment,
        actor=hook.user.username if hook.user else None,
        commit=commit,
    )
    return extend_labels(labels, ref=ref, tag=tag, **extra)


def _pipeline(payload: Any) -> Event:
    hook = load(PipelineHook, payload, "GitLab Pipeline Hook payload")
    run = hook.object_attributes
    status = map_status(STATUSES, run.status, "object_attributes.status")
    project = project_path(hook)
    # Unnamed pipelines (the norm) are the project's pipeline: one series per project+branch.
    pipeline = run.name or project
    labels = _labels(
        hook,
        "pipeline",
        status,
        project,
        pipeline,
        ref=run.ref,
        tag=run.tag,
        commit=run.sha,
        author_email=hook.commit.author_email() if hook.commit else None,
        pipeline_id=run.id,
        pipeline_iid=run.iid,
        pipeline_source=run.source,
    )
    web_url = hook.project.web_url if hook.project else None
    return ci_event(
        labels,
        run=str(run.id),
        run_order=run.id,
        number=run.id,
        subject=run.name or "pipeline",
        url=run.url or (f"{web_url}/-/pipelines/{run.id}" if web_url else None),
        started_at=run.created_at,
        finished_at=run.finished_at,
        duration_s=run.duration,
    )


def _job(payload: Any) -> Event:
    hook = load(JobHook, payload, "GitLab Job Hook payload")
    status = map_status(STATUSES, hook.build_status, "build_status")
    homepage = hook.repository.homepage if hook.repository else None
    project = project_path(hook, homepage, hook.project_name)
    pipeline = (hook.commit.name if hook.commit else None) or project
    labels = _labels(
        hook,
        "job",
        status,
        project,
        pipeline,
        ref=hook.ref,
        tag=hook.tag,
        commit=hook.sha,
        environment=hook.environment.name if hook.environment else None,
        job=hook.build_name,
        stage=hook.build_stage,
        pipeline_id=hook.pipeline_id,
        allow_failure=hook.build_allow_failure,
    )
    web_url = (hook.project.web_url if hook.project else None) or homepage
    reason = hook.build_failure_reason if status == "failure" else None
    return ci_event(
        labels,
        run=str(hook.build_id),
        run_order=hook.build_id,
        number=hook.build_id,
        url=f"{web_url}/-/jobs/{hook.build_id}" if web_url else None,
        started_at=hook.build_started_at,
        finished_at=hook.build_finished_at,
        duration_s=hook.build_duration,
        annotations={"failure_reason": reason},
    )


def _deployment(payload: Any) -> Event:
    hook = load(DeploymentHook, payload, "GitLab Deployment Hook payload")
    status = map_status(DEPLOYMENT_STATUSES, hook.status, "status")
    # Only the short SHA is given as such; the commit URL ends with the full one.
    full_sha = (hook.commit_url or "").rstrip("/").rpartition("/")[2]
    short = hook.short_sha or ""
    commit = full_sha if short and full_sha.startswith(short) else hook.short_sha
    labels = _labels(
        hook,
        "deployment",
        status,
        project_path(hook),
        hook.environment,
        ref=hook.ref,
        tag=None,
        commit=commit,
        environment=hook.environment,
        deployment_id=hook.deployment_id,
    )
    return ci_event(
        labels,
        run=str(hook.deployment_id),
        tracked=False,
        subject=f"deployment to {hook.environment}",
        url=hook.deployable_url,
        finished_at=hook.status_changed_at if status not in ("queued", "running") else None,
        annotations={
            "commit_title": hook.commit_title,
            "environment_url": hook.environment_external_url,
        },
    )


# X-Gitlab-Event → (the object_kind that event carries, parser). "Build Hook" is what
# GitLab sent for job events before it renamed builds to jobs.
HANDLERS: dict[str, tuple[str, Callable[[Any], Event]]] = {
    "Pipeline Hook": ("pipeline", _pipeline),
    "Job Hook": ("build", _job),
    "Build Hook": ("build", _job),
    "Deployment Hook": ("deployment", _deployment),
}


class GitLabSource:
    """X-Gitlab-Token is the configured secret itself, compared in constant time."""

    name: Source = "gitlab"

    def verify(self, headers: Mapping[str, str], body: bytes, auth: SourceAuth) -> None:
        require_token(headers.get("x-gitlab-token"), auth, "X-Gitlab-Token")

    def delivery_id(self, headers: Mapping[str, str]) -> str | None:
        # Idempotency-Key is minted once per event+hook; the event UUID is shared by every
        # hook fired from one request, so it is only the fallback.
        return headers.get("idempotency-key") or headers.get("x-gitlab-event-uuid") or None

    def parse(self, headers: Mapping[str, str], payload: Any) -> list[Event]:
        event = headers.get("x-gitlab-event")
        if not event:
            raise Malformed("missing X-Gitlab-Event header")
        handler = HANDLERS.get(event)
        if handler is None:
            raise Ignored(f"GitLab event {event!r} is not handled (handled: {', '.join(HANDLERS)})")
        object_kind, parse = handler
        found = load(_Kind, payload, f"GitLab {event} payload").object_kind
        if found != object_kind:
            raise Malformed(
                f"X-Gitlab-Event {event!r} carries object_kind {object_kind!r}, got {found[:40]!r}"
            )
        return [parse(payload)]


SOURCE = GitLabSource()
