"""Local servers that answer as the Jenkins, GitLab and GitHub Actions APIs do.

Their objects are built from recorded API answers (tests/payloads/api/, provenance in
tests/payloads/SOURCES.md) with the facts of a test's runs put in, and they honour the
parts of each API the pollers rely on:
- Jenkins: `tree=` filters with `{M,N}` ranges (hudson.model.Api; Api/index.jelly), HTTP
  Basic user:token, folders answering with their `jobs`.
- GitLab: `updated_after`, `order_by=updated_at`, `sort`, `per_page` ≤ 100 and `page`
  with the `x-next-page`/`x-total` headers (doc/api/pipelines.md, doc/api/rest/_index.md),
  the short pipeline form in lists and the full one alone, `PRIVATE-TOKEN`.
- GitHub: ETags and 304 on `If-None-Match` that cost no rate limit, `x-ratelimit-*`
  headers, 403 "API rate limit exceeded" at 0 remaining, `Link: rel="next"` pagination,
  `Authorization: Bearer`.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from fixtures import fixtures_dir
from providers.fixtures import _fresh
from providers.server import FakeProvider, Recorded, Reply, serving

API = fixtures_dir() / "api"


def recorded(path: str) -> Any:
    return json.loads((API / path).read_text())


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    return Reply(
        status, json.dumps(body).encode(), {"content-type": "application/json", **(headers or {})}
    )


# --- Jenkins ---------------------------------------------------------------------------


def parse_tree(text: str) -> dict[str, tuple[Any, tuple[int | None, int | None] | None]]:
    """Jenkins' `tree` grammar: `a,b[c,d[e]]{0,10}` → {name: (subtree, range)}."""
    tree, rest = _tree(text, 0)
    assert rest == len(text), f"unparsed tree at {rest}: {text!r}"
    return tree


def _tree(text: str, i: int) -> tuple[dict[str, Any], int]:
    found: dict[str, Any] = {}
    while i < len(text) and text[i] != "]":
        start = i
        while i < len(text) and text[i] not in ",[]{":
            i += 1
        name, sub, window = text[start:i], None, None
        if i < len(text) and text[i] == "[":
            sub, i = _tree(text, i + 1)
            i += 1  # the closing ]
        if i < len(text) and text[i] == "{":
            end = text.index("}", i)
            low, _, high = text[i + 1 : end].partition(",")
            window = (int(low) if low else None, int(high) if high else None)
            i = end + 1
        found[name] = (sub, window)
        if i < len(text) and text[i] == ",":
            i += 1
    return found, i


def apply_tree(tree: dict[str, Any] | None, value: Any) -> Any:
    if tree is None:
        return value
    if isinstance(value, list):
        return [apply_tree(tree, v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {"_class": value["_class"]} if "_class" in value else {}
    for name, (sub, window) in tree.items():
        if name not in value:
            continue
        item = value[name]
        if window is not None and isinstance(item, list):
            item = item[window[0] : window[1]]
        out[name] = apply_tree(sub, item)
    return out


def jenkins_build(
    job_url: str,
    number: int,
    result: str | None,
    *,
    started: float,
    duration_s: float = 0,
    branch: str | None = None,
    commit: str | None = None,
) -> dict[str, Any]:
    """A build as Jenkins serialises it (the recorded fish #10, these facts put in)."""
    build: dict[str, Any] = copy.deepcopy(recorded("jenkins/build_api_json.fish_10.json"))
    build.update(
        _class="org.jenkinsci.plugins.workflow.job.WorkflowRun",
        number=number,
        id=str(number),
        displayName=f"#{number}",
        url=f"{job_url}{number}/",
        result=result,
        building=result is None,
        timestamp=int(started * 1000),
        duration=int(duration_s * 1000) if result else 0,
    )
    if commit:
        revision = {"SHA1": commit, "branch": [{"SHA1": commit, "name": branch}]}
        build["actions"].append(
            {"_class": "hudson.plugins.git.util.BuildData", "lastBuiltRevision": revision}
        )
    return build


class FakeJenkins(FakeProvider):
    per_minute = 10_000
    user, token = "signalbox", "jenkins-api-token"

    def reset(self) -> None:
        super().reset()
        self.root: dict[str, Any] = {"jobs": []}

    def __init__(self) -> None:
        super().__init__()
        self.root = {"jobs": []}

    def job(self, path: str, *, folder: bool = False) -> dict[str, Any]:
        """The job (or folder) at `folder/name`, made empty if missing."""
        node = self.root
        url = self.base_url + "/"
        for name in path.split("/"):
            url += f"job/{name}/"
            found = next((j for j in node.setdefault("jobs", []) if j["name"] == name), None)
            if found is None:
                found = copy.deepcopy(recorded("jenkins/job_api_json.fish.json"))
                found.update(_class="org.jenkinsci.plugins.workflow.job.WorkflowJob",
                             name=name, displayName=name, url=url, builds=[])  # fmt: skip
                node["jobs"].append(found)
            node = found
        if folder:
            node["_class"] = "com.cloudbees.hudson.plugins.folder.Folder"
            node.setdefault("jobs", [])
            node.pop("builds", None)
        return node

    def add_build(self, path: str, number: int, result: str | None, **facts: Any) -> None:
        job = self.job(path)
        builds = [b for b in job["builds"] if b["number"] != number]
        job["builds"] = sorted(
            [*builds, jenkins_build(job["url"], number, result, **facts)],
            key=lambda b: -b["number"],
        )

    def answer(self, request: Recorded) -> Reply:
        expected = base64.b64encode(f"{self.user}:{self.token}".encode()).decode()
        if request.headers.get("authorization") != f"Basic {expected}":
            return Reply(401, b"<html>Unauthorized</html>", {"content-type": "text/html"})
        parts = request.path.strip("/").split("/")
        if parts[-2:] != ["api", "json"] or len(parts) % 2:
            return Reply(404, b"Not Found")
        node: dict[str, Any] | None = self.root
        for i in range(0, len(parts) - 2, 2):
            kids: list[dict[str, Any]] = node.get("jobs", []) if node else []
            node = next((j for j in kids if j["name"] == parts[i + 1]), None)
        if node is None or node is self.root:
            return Reply(404, b"Not Found")
        tree = request.query.get("tree")
        body = apply_tree(parse_tree(tree), node) if tree else node
        return _json(body, headers={"x-jenkins": "2.440.3"})


# --- GitLab ----------------------------------------------------------------------------

LIST_FIELDS = tuple(recorded("gitlab/pipelines.list.json")[0])


def gitlab_pipeline(project: dict[str, Any], pipeline_id: int, status: str, **facts: Any) -> Any:
    """A pipeline in GitLab's full form (the recorded pipeline 287, these facts put in)."""
    pipeline = copy.deepcopy(recorded("gitlab/pipeline.single.json"))
    pipeline.update(
        id=pipeline_id,
        iid=pipeline_id,
        project_id=project["id"],
        status=status,
        web_url=f"{project['web_url']}/-/pipelines/{pipeline_id}",
    )
    pipeline.update(facts)
    return pipeline


class FakeGitLab(FakeProvider):
    per_minute = 10_000
    token = "gitlab-api-token"

    def __init__(self) -> None:
        super().__init__()
        self.projects: dict[int, dict[str, Any]] = {}
        self.pipelines: dict[int, list[dict[str, Any]]] = {}
        self.groups: dict[str, list[int]] = {}
        self.hidden: set[int] = set()  # pipelines listed but answered 404 alone

    def reset(self) -> None:
        super().reset()
        self.projects, self.pipelines, self.groups, self.hidden = {}, {}, {}, set()

    def project(self, project_id: int, path: str) -> dict[str, Any]:
        project = {
            "id": project_id,
            "path_with_namespace": path,
            "web_url": f"https://gitlab.example.com/{path}",
        }
        self.projects[project_id] = project
        self.pipelines.setdefault(project_id, [])
        return project

    def put(self, pipeline: dict[str, Any]) -> None:
        """Add or replace a pipeline (a status change: `updated_at` moves)."""
        runs = self.pipelines[pipeline["project_id"]]
        runs[:] = [p for p in runs if p["id"] != pipeline["id"]] + [pipeline]

    def answer(self, request: Recorded) -> Reply:
        if request.headers.get("private-token") != self.token:
            return _json({"message": "401 Unauthorized"}, 401)
        parts = request.path.removeprefix("/api/v4/").split("/")
        if parts[0] == "groups":
            ids = self.groups.get("/".join(parts[1:-1]))
            if ids is None or parts[-1] != "projects":
                return _json({"message": "404 Group Not Found"}, 404)
            return self._page(request, [self.projects[i] for i in ids])
        if parts[0] != "projects":
            return _json({"message": "404 Not Found"}, 404)
        # The path arrives decoded: `group%2Fapp` is `group/app` here.
        rest = "/".join(parts[1:])
        paths = {p["path_with_namespace"]: p for p in self.projects.values()}
        project = paths.get(rest)
        if project is not None:
            return _json(project)
        if not parts[1].isdigit() or int(parts[1]) not in self.projects:
            return _json({"message": "404 Project Not Found"}, 404)
        pid = int(parts[1])
        if len(parts) == 2:
            return _json(self.projects[pid])
        if len(parts) == 4 and parts[2] == "pipelines":
            one = next((p for p in self.pipelines[pid] if str(p["id"]) == parts[3]), None)
            one = None if one is None or one["id"] in self.hidden else one
            return _json(one) if one else _json({"message": "404 Not found"}, 404)
        if len(parts) == 3 and parts[2] == "pipelines":
            return self._pipelines(request, pid)
        return _json({"message": "404 Not Found"}, 404)

    def _pipelines(self, request: Recorded, pid: int) -> Reply:
        q = request.query
        runs = list(self.pipelines[pid])
        if "updated_after" in q:
            after = datetime.fromisoformat(q["updated_after"].replace("Z", "+00:00"))
            runs = [r for r in runs if _gitlab_time(r["updated_at"]) > after]
        order = q.get("order_by", "id")
        runs.sort(key=lambda r: (r[order], r["id"]), reverse=q.get("sort", "desc") == "desc")
        return self._page(request, [{k: r[k] for k in LIST_FIELDS if k in r} for r in runs])

    def _page(self, request: Recorded, items: list[Any]) -> Reply:
        per_page = min(int(request.query.get("per_page", 20)), 100)
        page = int(request.query.get("page", 1))
        pages = max(1, -(-len(items) // per_page))
        headers = {
            "x-page": str(page),
            "x-per-page": str(per_page),
            "x-total": str(len(items)),
            "x-total-pages": str(pages),
            "x-next-page": str(page + 1) if page < pages else "",
        }
        return _json(items[(page - 1) * per_page : page * per_page], headers=headers)


def _gitlab_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# --- GitHub ----------------------------------------------------------------------------


def github_run(repo: str, run_id: int, number: int, status: str, conclusion: str | None,
               **facts: Any) -> dict[str, Any]:  # fmt: skip
    """A workflow run as the REST API lists it (the recorded PyGithub run, facts put in)."""
    listed = recorded("github/actions_runs.list.created_filter.json")
    run: dict[str, Any] = copy.deepcopy(listed["workflow_runs"][0])
    run.update(id=run_id, run_number=number, status=status, conclusion=conclusion)
    run["html_url"] = f"https://github.com/{repo}/actions/runs/{run_id}"
    run["repository"]["full_name"] = repo
    run.update(facts)
    return run


REPO_OF_LINK = "octo-org/octo-repo"


class FakeGitHub(FakeProvider):
    per_minute = 10_000
    token = "github-token"
    limit = 5000

    def __init__(self) -> None:
        super().__init__()
        self.repos: dict[str, dict[str, list[dict[str, Any]]]] = {}
        self.remaining = self.limit
        self.reset_at = time.time() + 3600

    def reset(self) -> None:
        super().reset()
        self.repos = {}
        self.remaining = self.limit
        self.reset_at = time.time() + 3600

    def repo(self, name: str, *workflows: tuple[int, str]) -> None:
        self.repos[name] = {
            "runs": [],
            "workflows": [{"id": i, "name": n, "path": f".github/workflows/{i}.yml",
                           "state": "active"} for i, n in workflows],
        }  # fmt: skip

    def put(self, repo: str, run: dict[str, Any]) -> None:
        runs = self.repos[repo]["runs"]
        runs[:] = sorted([r for r in runs if r["id"] != run["id"]] + [run], key=lambda r: -r["id"])

    def answer_forced(self, behaviour: str, request: Recorded) -> Reply:
        if behaviour == "login_page":  # a proxy's sign-in page instead of the API
            return Reply(200, b"<html><body>Sign in</body></html>", {"content-type": "text/html"})
        if behaviour == "wrong_shape":
            return _json({"workflow_runs": "none"})
        if behaviour == "huge":  # 9 MB of runs
            return Reply(200, b'{"workflow_runs": [' + b"{}, " * 3_000_000 + b"{}]}")
        if behaviour == "link_elsewhere":  # a whole page of new runs, the next one elsewhere
            page = [github_run(REPO_OF_LINK, 900 + i, i, "queued", None) for i in range(50)]
            link = '<http://203.0.113.9/repos/x/y/actions/runs?page=2>; rel="next"'
            return _json({"total_count": 99, "workflow_runs": page}, headers={"link": link})
        return super().answer_forced(behaviour, request)

    def _rate(self) -> dict[str, str]:
        return {
            "x-ratelimit-limit": str(self.limit),
            "x-ratelimit-remaining": str(self.remaining),
            "x-ratelimit-reset": str(int(self.reset_at)),
            "x-ratelimit-used": str(self.limit - self.remaining),
            "x-ratelimit-resource": "core",
        }

    def answer(self, request: Recorded) -> Reply:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return _json({"message": "Bad credentials"}, 401)
        if self.remaining <= 0:
            message = {
                "message": "API rate limit exceeded for user ID 1.",
                "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
            }
            return _json(message, 403, self._rate())
        parts = request.path.strip("/").split("/")
        repo = self.repos.get("/".join(parts[1:3]))
        if parts[0] != "repos" or repo is None or parts[3:4] != ["actions"]:
            return _json({"message": "Not Found"}, 404)
        kind = parts[4]
        items = repo["runs"] if kind == "runs" else repo["workflows"]
        per_page = min(int(request.query.get("per_page", 30)), 100)
        page = int(request.query.get("page", 1))
        listed = items[(page - 1) * per_page : page * per_page]
        key = "workflow_runs" if kind == "runs" else "workflows"
        body = json.dumps({"total_count": len(items), key: listed}).encode()
        etag = f'W/"{hashlib.sha256(body).hexdigest()[:32]}"'
        headers = {"etag": etag, "cache-control": "private, max-age=60, s-maxage=60"}
        if page * per_page < len(items):
            url = f"{self.base_url}{request.path}?per_page={per_page}&page={page + 1}"
            headers["link"] = f'<{url}>; rel="next"'
        if request.headers.get("if-none-match") == etag:
            # Not counted against the primary rate limit.
            return Reply(304, b"", {**headers, **self._rate()})
        self.remaining -= 1
        return Reply(200, body, {"content-type": "application/json", **headers, **self._rate()})


@pytest.fixture(scope="session")
def _ci_servers() -> Iterator[dict[str, FakeProvider]]:
    apps: dict[str, FakeProvider] = {
        "jenkins": FakeJenkins(),
        "gitlab": FakeGitLab(),
        "github": FakeGitHub(),
    }
    with serving(apps):
        yield apps


@pytest.fixture
def fake_jenkins(_ci_servers: dict[str, FakeProvider]) -> FakeJenkins:
    return _fresh(_ci_servers, "jenkins", FakeJenkins)


@pytest.fixture
def fake_gitlab(_ci_servers: dict[str, FakeProvider]) -> FakeGitLab:
    return _fresh(_ci_servers, "gitlab", FakeGitLab)


@pytest.fixture
def fake_github(_ci_servers: dict[str, FakeProvider]) -> FakeGitHub:
    return _fresh(_ci_servers, "github", FakeGitHub)
