"""GitLab: a project's pipelines updated since the last poll, page by page.

`GET /projects/:id/pipelines?updated_after=…&order_by=updated_at&sort=asc` with
`per_page=100`, following `x-next-page` (https://docs.gitlab.com/ee/api/pipelines.html,
https://docs.gitlab.com/ee/api/rest/#pagination): an idle project costs one request that
answers `[]`. Oldest first, so a poll that stops at the page cap resumes where it
stopped. GitLab has no conditional requests on these endpoints; the cursor is the
newest `updated_at` read, in GitLab's own clock, minus an overlap for pipelines written
while the last page was read (seen twice, reported once). A pipeline that is news is
read once more on its own (`GET /projects/:id/pipelines/:pipeline_id`): the list lacks
the `tag`, `duration`, `finished_at` and `user` its webhook carries. A group target lists
its projects (`GET /groups/:id/projects?include_subgroups=true`) every ten minutes.
Auth: `PRIVATE-TOKEN` (https://docs.gitlab.com/ee/api/rest/authentication.html).

Each pipeline becomes its Pipeline Hook payload (app/sources/gitlab.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import httpx

from app.pollers.api import Api, TargetFailed, json_of, server_time
from app.pollers.base import Seen, Sighting, epoch, iso
from app.pollers.spec import MAX_TARGETS, PollSpec, Target

PER_PAGE = 100
MAX_PAGES = 10  # per project per poll; the cursor carries on from there next time
OVERLAP = 60.0  # seconds read again each poll
GROUP_REFRESH = 600.0  # seconds between listings of a group's projects
HOOK_HEADERS = {"x-gitlab-event": "Pipeline Hook"}
# What the Pipeline Hook's object_attributes and the API's pipeline share, by name.
HOOK_FIELDS = (
    "id", "iid", "name", "ref", "tag", "sha", "source", "status", "created_at",
    "finished_at", "duration",
)  # fmt: skip


class GitLabPoller:
    def auth_headers(self, spec: PollSpec) -> dict[str, str]:
        token = spec.token_value()
        return {"PRIVATE-TOKEN": token} if token else {}

    async def poll(
        self, api: Api, spec: PollSpec, target: Target, state: dict[str, Any], now: float
    ) -> Seen:
        if target.kind == "group":
            projects = await _group_projects(api, target.name, state, now)
        else:
            projects = [await _project(api, target.name, state)]
        cursors: dict[str, float] = state.setdefault("cursors", {})
        # A project polled for the first time is read as far back as the look-back.
        start = now - spec.look_back.total_seconds()
        seen = Seen()
        for project in projects:
            cursor = cursors.get(str(project["id"]), start)
            sightings, cursors[str(project["id"])] = await _pipelines(api, project, cursor, now)
            seen.sightings += sightings
        return seen


async def _project(api: Api, ref: str, state: dict[str, Any]) -> dict[str, Any]:
    """The project's id, path and page (read once, kept in the state)."""
    known: dict[str, Any] | None = state.get("project")
    if known is None:
        body = await json_of(await api.get(f"/projects/{quote(ref, safe='')}"), "GitLab project")
        known = _project_fields(body)
        if known is None:
            raise TargetFailed("GitLab project: answer has no id and path_with_namespace")
        state["project"] = known
    return known


def _project_fields(body: Any) -> dict[str, Any] | None:
    if not isinstance(body, dict) or not isinstance(body.get("id"), int):
        return None
    path = body.get("path_with_namespace")
    if not isinstance(path, str) or not path:
        return None
    return {"id": body["id"], "path_with_namespace": path, "web_url": body.get("web_url")}


async def _group_projects(
    api: Api, ref: str, state: dict[str, Any], now: float
) -> list[dict[str, Any]]:
    projects: list[dict[str, Any]] | None = state.get("projects")
    if projects is not None and now - state.get("listed_at", 0.0) < GROUP_REFRESH:
        return projects
    params = {"include_subgroups": "true", "archived": "false", "simple": "true"}
    pages = _pages(api, f"/groups/{quote(ref, safe='')}/projects", params, "GitLab group")
    listed = [_project_fields(item) async for body, _, _ in pages for item in body]
    found = [p for p in listed if p is not None][:MAX_TARGETS]
    state["projects"], state["listed_at"] = found, now
    return found


async def _pages(
    api: Api, path: str, params: dict[str, str], what: str
) -> AsyncIterator[tuple[list[Any], httpx.Response, bool]]:
    """Each page of a paginated list (up to MAX_PAGES): its items, the answer, and
    whether it is the last page."""
    page = "1"
    for _ in range(MAX_PAGES):
        response = await api.get(path, {**params, "per_page": str(PER_PAGE), "page": page})
        body = await json_of(response, what)
        if not isinstance(body, list):
            raise TargetFailed(f"{what}: answer is not a JSON list")
        page = response.headers.get("x-next-page", "").strip()
        last = not page.isdigit()
        yield body, response, last
        if last:
            return


async def _pipelines(
    api: Api, project: dict[str, Any], cursor: float, now: float
) -> tuple[list[Sighting], float]:
    """The project's pipelines updated since `cursor`, and the cursor for next time."""
    pid = str(project["id"])
    params = {"updated_after": iso(cursor - OVERLAP), "order_by": "updated_at", "sort": "asc"}
    found: list[Sighting] = []
    pages = _pages(api, f"/projects/{pid}/pipelines", params, "GitLab pipelines")
    async for body, response, last in pages:
        for item in body:
            sighting = _sighting(api, project, item)
            if sighting is not None:
                found.append(sighting)
                cursor = max(cursor, sighting.changed_at or cursor)
        if last:
            # Everything read: what changes from now on is after the server's present.
            cursor = max(cursor, server_time(response, now) - OVERLAP)
    return found, cursor


def _sighting(api: Api, project: dict[str, Any], item: Any) -> Sighting | None:
    if not isinstance(item, dict) or not isinstance(item.get("id"), int):
        return None
    status = item.get("status")
    pid = project["id"]

    async def details() -> dict[str, Any]:
        one = await json_of(
            await api.get(f"/projects/{pid}/pipelines/{item['id']}"), "GitLab pipeline"
        )
        return pipeline_hook(project, one if isinstance(one, dict) else item)

    return Sighting(
        key=f"{pid}:{item['id']}",
        version=str(status),
        changed_at=epoch(item.get("updated_at")),
        headers=HOOK_HEADERS,
        payload=pipeline_hook(project, item),
        details=details,
    )


def pipeline_hook(project: dict[str, Any], pipeline: dict[str, Any]) -> dict[str, Any]:
    """The Pipeline Hook GitLab would post for this pipeline (the API's fields renamed as
    the hook names them: `web_url` is the hook's `url`)."""
    attributes = {k: pipeline[k] for k in HOOK_FIELDS if pipeline.get(k) is not None}
    attributes["url"] = pipeline.get("web_url")
    user = pipeline.get("user")
    return {
        "object_kind": "pipeline",
        "object_attributes": attributes,
        "project": {
            "path_with_namespace": project["path_with_namespace"],
            "web_url": project.get("web_url"),
        },
        **({"user": {"username": user.get("username")}} if isinstance(user, dict) else {}),
    }
