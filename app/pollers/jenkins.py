"""Jenkins: a job's (or a folder's jobs') newest builds, in one request per target.

The JSON API with a `tree=` filter names exactly the fields read, with a `{0,N}` range on
the builds, so Jenkins serialises N small objects instead of the job's whole tree
(https://www.jenkins.io/doc/book/using/remote-access-api/, "Controlling the amount of
data you fetch"). A folder answers with its `jobs`, each with the same builds filter.
Jenkins has no conditional requests or cursors: each poll reads the window again and
what changed in it is news. Auth: HTTP Basic user:API token
(https://www.jenkins.io/doc/book/system-administration/authenticating-scripted-clients/).

Each build becomes the Notification plugin's payload for it (app/sources/jenkins.py):
phase STARTED while building, COMPLETED with its result after.
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote

from app.pollers.api import Api, TargetFailed, json_of
from app.pollers.base import Seen, Sighting
from app.pollers.spec import JenkinsPoll, PollSpec, Target
from app.sources.jenkins import job_path

# Read per build: what the Notification plugin sends (the git plugin's last built
# revision gives its scm.branch and scm.commit).
BUILD_FIELDS = (
    "number,url,building,result,timestamp,duration,actions[lastBuiltRevision[SHA1,branch[name]]]"
)


def job_url_path(job: str) -> str:
    """`folder/app` → `/job/folder/job/app`."""
    return "".join(f"/job/{quote(part, safe='')}" for part in job.split("/"))


def tree(builds: int) -> str:
    window = f"builds[{BUILD_FIELDS}]{{0,{builds}}}"
    return f"name,url,{window},jobs[name,url,{window}]"


class JenkinsPoller:
    def auth_headers(self, spec: PollSpec) -> dict[str, str]:
        assert isinstance(spec, JenkinsPoll)
        token = spec.token_value()
        if spec.user is None or token is None:
            return {}
        pair = base64.b64encode(f"{spec.user}:{token}".encode()).decode()
        return {"Authorization": f"Basic {pair}"}

    async def poll(
        self, api: Api, spec: PollSpec, target: Target, state: dict[str, Any], now: float
    ) -> Seen:
        assert isinstance(spec, JenkinsPoll)
        response = await api.get(
            f"{job_url_path(target.name)}/api/json", {"tree": tree(spec.builds)}
        )
        body = await json_of(response, "Jenkins job")
        if not isinstance(body, dict):
            raise TargetFailed("Jenkins job: answer is not a JSON object")
        jobs = [body, *(j for j in body.get("jobs") or [] if isinstance(j, dict))]
        sightings = [s for job in jobs for s in _builds(job)]
        return Seen(sightings, complete=True)


def _builds(job: dict[str, Any]) -> list[Sighting]:
    found = []
    for build in job.get("builds") or []:
        if not isinstance(build, dict) or not isinstance(build.get("number"), int):
            continue
        payload = notification(job, build)
        finished = payload["build"]["phase"] == "COMPLETED"
        started = build.get("timestamp")
        changed = None
        if isinstance(started, int | float):
            duration = build.get("duration") if finished else 0
            changed = (started + (duration if isinstance(duration, int | float) else 0)) / 1000
        found.append(
            Sighting(
                key=f"{job_path(job.get('url')) or job.get('name')}#{build['number']}",
                version=str(payload["build"].get("status") or "running"),
                changed_at=changed,
                headers={},
                payload=payload,
            )
        )
    return found


def notification(job: dict[str, Any], build: dict[str, Any]) -> dict[str, Any]:
    """The Notification plugin's JSON for this build (its `url` is the job's; our
    source module reads the job's full name from it, as from the plugin's)."""
    result = build.get("result")
    # `building` turns false at post-production, before the result is final for
    # listeners (Run.java): a build is COMPLETED once it has a result and stopped.
    finished = not build.get("building") and isinstance(result, str)
    content: dict[str, Any] = {
        "number": build["number"],
        "phase": "COMPLETED" if finished else "STARTED",
        "full_url": build.get("url"),
        "timestamp": build.get("timestamp"),
        "duration": build.get("duration") if finished else 0,
    }
    if finished:
        content["status"] = result
    scm = _scm(build)
    if scm:
        content["scm"] = scm
    return {"name": job.get("name") or "", "url": job.get("url"), "build": content}


def _scm(build: dict[str, Any]) -> dict[str, str]:
    for action in build.get("actions") or []:
        revision = action.get("lastBuiltRevision") if isinstance(action, dict) else None
        if not isinstance(revision, dict):
            continue
        scm = {"commit": revision.get("SHA1")}
        branches = revision.get("branch") or []
        if branches and isinstance(branches[0], dict):
            scm["branch"] = branches[0].get("name")
        return {k: v for k, v in scm.items() if isinstance(v, str) and v}
    return {}
