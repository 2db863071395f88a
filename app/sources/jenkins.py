"""Jenkins: the Notification plugin's JSON and the Outbound WebHook plugin's JSON."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import unquote

from pydantic import BeforeValidator, Field

from app.events import Event, Labels, Source, Status, base_labels
from app.sources.base import (
    Int64,
    Malformed,
    NonEmpty,
    Payload,
    SourceAuth,
    branch_name,
    ci_event,
    decoded,
    extend_labels,
    load,
    map_status,
    require_authorization,
    url_path,
)

SUPPORTED = (
    "Signalbox reads the JSON of the Jenkins Notification plugin (notification-plugin, "
    "format JSON, protocol HTTP) or of the Outbound WebHook plugin (outbound-webhook-plugin)"
)
PHASES: dict[str, Status] = {"QUEUED": "queued", "STARTED": "running"}
RESULTS: dict[str, Status] = {
    "SUCCESS": "success",
    "FAILURE": "failure",
    "UNSTABLE": "unstable",
    "ABORTED": "cancelled",
    "NOT_BUILT": "skipped",
}
# The Notification plugin sends COMPLETED (onCompleted) and FINALIZED (onFinalized) with
# the same result; both carry the outcome in build.status.
FINISHED_PHASES = frozenset({"COMPLETED", "FINALIZED"})
OUTBOUND_EVENTS: dict[str, Status] = {
    "start": "running",
    "success": "success",
    "failure": "failure",
    "unstable": "unstable",
    # Sent by the plugin's pipeline step, from inside a run that has not finished.
    "pipeline": "running",
}


def _epoch_millis(value: object) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("expected milliseconds since the epoch")
    try:
        return datetime.fromtimestamp(value / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        raise ValueError("timestamp out of range") from None


EpochMillis = Annotated[datetime | None, BeforeValidator(_epoch_millis)]


class _Scm(Payload):
    branch: str | None = None
    commit: str | None = None


class _Build(Payload):
    number: Int64
    phase: str
    status: str | None = None
    full_url: str | None = None
    timestamp: EpochMillis = None
    duration: int | None = Field(None, ge=0, le=10**12)
    scm: _Scm | None = None


class NotificationPayload(Payload):
    name: NonEmpty
    url: str | None = None
    build: _Build


class OutboundPayload(Payload):
    project_name: NonEmpty = Field(alias="projectName")
    build_name: str | None = Field(None, alias="buildName")
    build_number: Int64 | None = Field(None, alias="buildNumber")
    build_url: str | None = Field(None, alias="buildUrl")
    event: str


def job_path(url: str | None) -> str | None:
    """The job's full name from its URL: `.../job/folder/job/app/18/` → `folder/app`."""
    parts = url_path(url).split("/")
    names = [unquote(parts[i + 1]) for i in range(len(parts) - 1) if parts[i] == "job"]
    return "/".join(names) or None


def _labels(project: str, status: Status, **extra: str | None) -> Labels:
    labels = base_labels(
        source="jenkins",
        kind="pipeline",
        status=status,
        project=project,
        pipeline=project,
        branch=branch_name(extra.pop("branch", None)),
        commit=extra.pop("commit", None),
    )
    return extend_labels(labels, **extra)


def _notification(payload: Any) -> Event:
    job = load(NotificationPayload, payload, "Jenkins Notification plugin payload")
    build = job.build
    if build.phase in FINISHED_PHASES:
        if not build.status:
            # A finished build always has a Jenkins Result; without one nothing truthful can
            # be said, and guessing "success" or "failure" would mislead a route.
            raise Malformed(f"Jenkins build.phase {build.phase} without build.status")
        status = map_status(RESULTS, build.status, "build.status")
    else:
        status = map_status(PHASES, build.phase, "build.phase")
    project = job_path(job.url) or job.name
    labels = _labels(
        project,
        status,
        plugin="notification",
        branch=build.scm.branch if build.scm else None,
        commit=build.scm.commit if build.scm else None,
        phase=build.phase,
        build_number=str(build.number),
    )
    finished_at, duration_s = None, None
    # duration is 0 until the build has finished.
    if build.phase in FINISHED_PHASES and build.duration:
        duration_s = build.duration / 1000
        if build.timestamp is not None and build.timestamp.year < 9000:
            finished_at = build.timestamp + timedelta(milliseconds=build.duration)
    run_id = f"{project}#{build.number}"
    return ci_event(
        labels,
        run=run_id,
        run_order=build.number,
        number=build.number,
        url=build.full_url,
        started_at=build.timestamp,
        finished_at=finished_at,
        duration_s=duration_s,
    )


def _build_number(hook: OutboundPayload) -> int:
    # Older plugin versions send no buildNumber; buildName is "#16" unless the build was
    # renamed, and the build URL ends with the number.
    if hook.build_number is not None:
        return hook.build_number
    candidates = (
        (r"#([0-9]{1,18})", (hook.build_name or "").strip()),
        (r"([0-9]{1,18})", url_path(hook.build_url).rpartition("/")[2]),
    )
    for pattern, text in candidates:
        if found := re.fullmatch(pattern, text):
            return int(found[1])
    raise Malformed(
        "Jenkins Outbound WebHook payload has no buildNumber, #N buildName or build URL"
    )


def _outbound(payload: Any) -> Event:
    hook = load(OutboundPayload, payload, "Jenkins Outbound WebHook plugin payload")
    status = map_status(OUTBOUND_EVENTS, hook.event, "event")
    number = _build_number(hook)
    # projectName is the display name in older versions; the URL gives the full name.
    project = job_path(hook.build_url) or hook.project_name
    labels = _labels(
        project, status, plugin="outbound-webhook", event=hook.event, build_number=str(number)
    )
    run_id = f"{project}#{number}"
    return ci_event(
        labels,
        run=run_id,
        run_order=number,
        number=number,
        url=hook.build_url,
    )


class JenkinsSource:
    """Authorization: Bearer <token>, or Basic with the token as password (a URL's user-info);
    Jenkins sends no delivery id."""

    name: Source = "jenkins"

    def verify(self, headers: Mapping[str, str], body: bytes, auth: SourceAuth) -> None:
        require_authorization(headers, auth)

    def delivery_id(self, headers: Mapping[str, str]) -> str | None:
        return None

    def parse(self, headers: Mapping[str, str], payload: Any) -> list[Event]:
        # Which plugin sent it shows in the keys present: sniff the decoded object.
        payload = decoded(payload)
        if not isinstance(payload, dict):
            raise Malformed(f"expected a JSON object. {SUPPORTED}")
        if payload.get("@type") == "MessageCard":
            raise Malformed(
                "this is an Office 365 connector MessageCard (office-365-connector plugin), "
                f"meant for Microsoft Teams. {SUPPORTED}"
            )
        if "build" in payload and "name" in payload:
            return [_notification(payload)]
        if "projectName" in payload and "event" in payload:
            return [_outbound(payload)]
        raise Malformed(f"unrecognised Jenkins payload. {SUPPORTED}")


SOURCE = JenkinsSource()
