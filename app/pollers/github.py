"""GitHub Actions: a repository's newest workflow runs, asked conditionally.

`GET /repos/{owner}/{repo}/actions/runs` with `If-None-Match: <the last ETag>`: while no
run changed GitHub answers 304, which "does not count against your primary rate limit"
(https://docs.github.com/en/rest/using-the-rest-api/best-practices-for-using-the-rest-api#use-conditional-requests-if-appropriate).
The first page (newest runs) is read; the next pages (the `Link` header's rel="next",
https://docs.github.com/en/rest/using-the-rest-api/using-pagination-in-the-rest-api)
only while a whole page is runs created since the last poll. The rate-limit headers and
403/429 refusals are handled by app/pollers/api.py
(https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api).
Workflow names come from `GET /repos/{owner}/{repo}/actions/workflows`, read when a run
of an unknown workflow shows up (a webhook carries the workflow; a run only its id).
Auth: `Authorization: Bearer <token>`; Actions read permission (fine-grained) or `repo`
(classic, private repositories).

Each run becomes the `workflow_run` webhook GitHub would send (app/sources/github.py).
"""

from __future__ import annotations

from typing import Any

import httpx

from app.pollers.api import Api, TargetFailed, json_of
from app.pollers.base import Seen, Sighting, epoch
from app.pollers.spec import PollSpec, Target

PER_PAGE = 50
MAX_PAGES = 3
HOOK_HEADERS = {"x-github-event": "workflow_run"}
# The REST API version the payloads were read with (the captures in tests/payloads/api).
API_HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
ACTIONS = {"completed": "completed", "in_progress": "in_progress"}


class GitHubPoller:
    def auth_headers(self, spec: PollSpec) -> dict[str, str]:
        token = spec.token_value()
        return {**API_HEADERS, **({"Authorization": f"Bearer {token}"} if token else {})}

    async def poll(
        self, api: Api, spec: PollSpec, target: Target, state: dict[str, Any], now: float
    ) -> Seen:
        path = f"/repos/{target.name}/actions/runs"
        response = await _conditional(api, path, {"per_page": str(PER_PAGE)}, state, "etag")
        if response.status_code == 304:
            return Seen()
        runs = await _runs(response)
        newest_before: float | None = state.get("newest_created")
        # A first poll (no newest run known) reads one page: older runs are history.
        if newest_before is not None:
            runs += await _newer_pages(api, response, runs, newest_before)
        state["newest_created"] = max([newest_before or 0.0, *map(_created, runs)])
        names = await _workflow_names(api, target.name, runs, state)
        sightings = [
            _sighting(run, names.get(str(run.get("workflow_id"))))
            for run in runs
            if _wanted(run, names.get(str(run.get("workflow_id"))), target)
        ]
        return Seen(sightings, complete=True)


async def _conditional(
    api: Api, path: str, params: dict[str, str], state: dict[str, Any], key: str
) -> httpx.Response:
    etag = state.get(key)
    response = await api.get(path, params, **({"If-None-Match": etag} if etag else {}))
    if response.status_code != 304 and response.headers.get("etag"):
        state[key] = response.headers["etag"]
    return response


async def _newer_pages(
    api: Api, response: httpx.Response, page: list[dict[str, Any]], newest_before: float
) -> list[dict[str, Any]]:
    """The next pages, while every run of the page before was created since the last poll
    (so older pages may hold changes too)."""
    more: list[dict[str, Any]] = []
    for _ in range(MAX_PAGES - 1):
        follow = response.links.get("next", {}).get("url")
        if not follow or not all(_created(r) > newest_before for r in page):
            break
        response = await api.get(follow)
        page = await _runs(response)
        more += page
    return more


async def _runs(response: httpx.Response) -> list[dict[str, Any]]:
    body = await json_of(response, "GitHub workflow runs")
    runs = body.get("workflow_runs") if isinstance(body, dict) else None
    if not isinstance(runs, list):
        raise TargetFailed("GitHub workflow runs: answer has no workflow_runs list")
    return [r for r in runs if isinstance(r, dict) and isinstance(r.get("id"), int)]


def _created(run: dict[str, Any]) -> float:
    return epoch(run.get("created_at")) or 0.0


async def _workflow_names(
    api: Api, repo: str, runs: list[dict[str, Any]], state: dict[str, Any]
) -> dict[str, str]:
    names: dict[str, str] = state.setdefault("workflows", {})
    if all(str(r.get("workflow_id")) in names for r in runs):
        return names
    path = f"/repos/{repo}/actions/workflows"
    response = await _conditional(api, path, {"per_page": "100"}, state, "workflows_etag")
    if response.status_code == 304:
        return names
    body = await json_of(response, "GitHub workflows")
    listed = body.get("workflows") if isinstance(body, dict) else None
    for workflow in listed if isinstance(listed, list) else []:
        if isinstance(workflow, dict) and isinstance(workflow.get("name"), str):
            names[str(workflow.get("id"))] = workflow["name"]
    return names


def _wanted(run: dict[str, Any], workflow: str | None, target: Target) -> bool:
    name = workflow or run.get("name")
    if target.workflows and name not in target.workflows:
        return False
    return not target.branches or run.get("head_branch") in target.branches


def _sighting(run: dict[str, Any], workflow: str | None) -> Sighting:
    status = run.get("status")
    version = f"{status}/{run.get('conclusion')}/{run.get('run_attempt')}"
    return Sighting(
        key=str(run["id"]),
        version=version,
        changed_at=epoch(run.get("updated_at")),
        headers=HOOK_HEADERS,
        payload=workflow_run_hook(run, workflow),
    )


def workflow_run_hook(run: dict[str, Any], workflow: str | None) -> dict[str, Any]:
    """The `workflow_run` webhook for this run (the run object is the same in both)."""
    return {
        "action": ACTIONS.get(str(run.get("status")), "requested"),
        "workflow_run": run,
        **({"workflow": {"name": workflow}} if workflow else {}),
        "repository": run.get("repository"),
        "sender": run.get("triggering_actor") or run.get("actor"),
    }
