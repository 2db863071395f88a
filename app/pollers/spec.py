"""`poll:` under `sources:` in routes.yaml: which CI API to poll, with which credentials,
what to watch and how often. One model per CI system, registered in POLL_SPECS; the
pollers (app/pollers/<ci>.py) read them, docs/sources.md ("Polling") documents them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated, Any, ClassVar

import httpx
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, model_validator

from app.durations import Duration

# Targets one CI system may list (jobs, projects and groups, repositories).
MAX_TARGETS = 500


class SpecError(ValueError):
    """A `poll:` setting refused. The text never quotes the value, so it is also the
    error's public form (app/routing/errors.py)."""

    @property
    def public(self) -> str:
        return str(self)


def _api_base(url: str) -> str:
    """An http(s) base URL without credentials, query or fragment; no trailing slash."""
    url = url.strip()
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        raise SpecError("not a valid URL") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise SpecError("must be an http:// or https:// URL with a host")
    if parsed.userinfo:
        # Credentials go in `user`/`token`, which are never shown; a URL is.
        raise SpecError("carries user:password@: give them as user and token instead")
    if parsed.query or parsed.fragment:
        raise SpecError("must have no ?query or #fragment")
    return url.rstrip("/")


def _duration_between(low: timedelta, high: timedelta) -> AfterValidator:
    def check(value: timedelta) -> timedelta:
        if not low <= value <= high:
            message = f"must be between {low.total_seconds():g}s and {high.total_seconds():g}s"
            raise SpecError(message)
        return value

    return AfterValidator(check)


def _path(value: str) -> str:
    """A slash-separated name (a Jenkins job in its folders, a GitLab path)."""
    parts = value.strip("/").split("/")
    if not value.strip() or any(p in ("", ".", "..") or p != p.strip() for p in parts):
        raise SpecError("must be names separated by single slashes")
    return "/".join(parts)


def _owner_repo(value: str) -> str:
    owner, slash, name = value.partition("/")
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
    if not (slash and owner and name and set(owner + name) <= allowed):
        raise SpecError("must be owner/repository")
    return value


Interval = Annotated[Duration, _duration_between(timedelta(seconds=1), timedelta(days=1))]
Timeout = Annotated[Duration, _duration_between(timedelta(seconds=1), timedelta(minutes=5))]
Horizon = Annotated[Duration, _duration_between(timedelta(0), timedelta(days=30))]
Path = Annotated[str, Field(min_length=1, max_length=1024), AfterValidator(_path)]
GitLabRef = Annotated[int, Field(ge=1)] | Path
OwnerRepo = Annotated[str, Field(max_length=200), AfterValidator(_owner_repo)]
Names = tuple[Annotated[str, Field(min_length=1, max_length=1024)], ...]


@dataclass(frozen=True)
class Target:
    """One thing a poller watches; `key` names it in the store, the API and metrics."""

    source: str
    kind: str  # job, project, group, repo
    name: str
    workflows: tuple[str, ...] = ()
    branches: tuple[str, ...] = ()
    key: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", f"{self.source}:{self.kind}:{self.name}")


class PollSpec(BaseModel):
    """What every `poll:` block has."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    source: ClassVar[str]

    url: Annotated[str, AfterValidator(_api_base)]
    token: SecretStr | None = None
    interval: Interval = timedelta(seconds=60)
    timeout: Timeout = timedelta(seconds=10)
    # The first poll of a target reports runs that changed this recently; the rest of
    # what it finds is recorded as the state things were in, nobody told.
    look_back: Horizon = timedelta(0)
    # After polls stopped for a while (Signalbox down, the CI unreachable), what changed
    # meanwhile is reported as far back as this; older changes are only recorded.
    catch_up: Horizon = timedelta(hours=1)

    def targets(self) -> list[Target]:
        raise NotImplementedError

    def api_base(self) -> str:
        """What the API's paths follow."""
        return self.url

    def token_value(self) -> str | None:
        """The token, or None when unset or empty (polls go unauthenticated)."""
        value = self.token.get_secret_value() if self.token is not None else ""
        return value or None


class JenkinsPoll(PollSpec):
    source = "jenkins"

    user: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    jobs: tuple[Path, ...] = Field(max_length=MAX_TARGETS)
    # Builds read per job (and per job of a folder) each poll: the newest ones.
    builds: int = Field(20, ge=1, le=100)

    @model_validator(mode="after")
    def _user_with_token(self) -> JenkinsPoll:
        # Emptiness is checked here, not by the field: an invalid item would otherwise be
        # reported twice (the item, then a list "with 0 items after validation").
        if not self.jobs:
            raise SpecError("name the jobs (or folders) to watch")
        if (self.user is None) != (self.token_value() is None):
            message = "user and token go together (Jenkins' API token is a password)"
            raise SpecError(message)
        return self

    def targets(self) -> list[Target]:
        return [Target("jenkins", "job", job) for job in dict.fromkeys(self.jobs)]


class GitLabPoll(PollSpec):
    source = "gitlab"

    projects: tuple[GitLabRef, ...] = Field((), max_length=MAX_TARGETS)
    groups: tuple[GitLabRef, ...] = Field((), max_length=MAX_TARGETS)

    @model_validator(mode="after")
    def _watches_something(self) -> GitLabPoll:
        if not self.projects and not self.groups:
            message = "name projects or groups to watch"
            raise SpecError(message)
        return self

    def api_base(self) -> str:
        # The instance's address, as users know it; the REST API lives under /api/v4.
        return self.url if self.url.endswith("/api/v4") else f"{self.url}/api/v4"

    def targets(self) -> list[Target]:
        projects = [Target("gitlab", "project", str(p)) for p in dict.fromkeys(self.projects)]
        groups = [Target("gitlab", "group", str(g)) for g in dict.fromkeys(self.groups)]
        return projects + groups


class GitHubRepo(BaseModel):
    """A repository with its own filters; a bare "owner/repo" is one without."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    repo: OwnerRepo
    workflows: Names | None = None
    branches: Names | None = None

    @model_validator(mode="before")
    @classmethod
    def _bare_name(cls, value: Any) -> Any:
        return {"repo": value} if isinstance(value, str) else value


class GitHubPoll(PollSpec):
    source = "github"

    url: Annotated[str, AfterValidator(_api_base)] = "https://api.github.com"
    repos: tuple[GitHubRepo, ...] = Field(max_length=MAX_TARGETS)
    # Defaults for every repository that sets none: only these workflows (by name) and
    # branches are reported; empty, all of them.
    workflows: Names = ()
    branches: Names = ()

    @model_validator(mode="after")
    def _watches_something(self) -> GitHubPoll:
        if not self.repos:
            raise SpecError("name the repositories to watch")
        return self

    def targets(self) -> list[Target]:
        found: dict[str, Target] = {}
        for repo in self.repos:
            found.setdefault(
                repo.repo,
                Target(
                    "github",
                    "repo",
                    repo.repo,
                    self.workflows if repo.workflows is None else repo.workflows,
                    self.branches if repo.branches is None else repo.branches,
                ),
            )
        return list(found.values())


POLL_SPECS: dict[str, type[PollSpec]] = {
    "jenkins": JenkinsPoll,
    "gitlab": GitLabPoll,
    "github": GitHubPoll,
}
