"""The `people:` directory and a route's `mention:`: who to @ for an event.

```yaml
people:
  张三:                                   # the name readers see
    ids: [zhangsan, zhang.san@example.com] # identities events carry: a GitHub login, GitLab
                                           # username, Jenkins user, commit e-mail, or a
                                           # label value such as a team in `owner`
    dingtalk_mobile: "13800000000"
    wecom: ZhangSan
    feishu: ou_7d8a6e6df7621556ce0d21922b676706ccs
    slack: U012AB3CD
routes:
  - matchers: [branch="main"]
    to: [ding]
    mention: [actor, label:author_email, label:owner]
```

A route's `mention:` says where to look in each event: `actor` (who pushed or started
the run) or `label:<name>` (`author_email`: the commit's author, from GitHub and
GitLab). Identities are matched case-insensitively. Someone no entry knows is named,
never @-ed. Only bad news (a failure, an unstable run, a firing alert) mentions anyone:
a fix or a resolution asks nobody to act.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from app.events import Event
from app.routing.errors import ConfigValueError
from channels.mentions import MAX_MENTIONS, HandleKind, Mention

# Statuses that ask someone to act.
BAD_NEWS = frozenset({"failure", "unstable", "firing"})
# Longest name or identity kept: a payload's label value is not a name past this.
MAX_NAME_CHARS = 64
_MENTION_SPEC = re.compile(r"actor|label:[A-Za-z_][A-Za-z0-9_]*")
# What each provider's handle looks like; anything else is refused at load, so a handle
# written into a message (`<@U…>`, `<at id=…>`) can never be markup of its own.
_HANDLES: dict[HandleKind, tuple[re.Pattern[str], str]] = {
    "dingtalk_mobile": (re.compile(r"\+?[0-9][0-9-]{4,19}"), "a mobile number"),
    "dingtalk_user_id": (re.compile(r"[A-Za-z0-9_-]{1,64}"), "a DingTalk user id"),
    # WeCom: "只能由数字、字母和“_-@.”四种字符组成", 1–64 bytes.
    "wecom": (re.compile(r"[A-Za-z0-9_@.-]{1,64}"), "a WeCom user id"),
    "feishu": (re.compile(r"ou_[A-Za-z0-9]{1,64}"), "a Feishu open_id (ou_…)"),
    "slack": (re.compile(r"[UW][A-Z0-9]{2,20}"), "a Slack member id (U…)"),
    "email": (re.compile(r"[^@\s<>]{1,64}@[^@\s<>]{1,255}"), "an e-mail address"),
}


def _spec(value: str) -> str:
    if not _MENTION_SPEC.fullmatch(value):
        raise ConfigValueError(
            f"mention {value!r}: write actor or label:<name>",
            "mention: write actor or label:<name>",
        )
    return value


MentionSpec = Annotated[str, AfterValidator(_spec)]


def _handle(kind: HandleKind) -> AfterValidator:
    pattern, what = _HANDLES[kind]

    def check(value: str | None) -> str | None:
        if value is not None and not pattern.fullmatch(value):
            raise ConfigValueError(f"{kind} must be {what}", f"{kind} must be {what}")
        return value

    return AfterValidator(check)


class Person(BaseModel):
    """One `people:` entry: the identities events show for a person, and their handles."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ids: tuple[Annotated[str, Field(min_length=1, max_length=MAX_NAME_CHARS)], ...] = ()
    dingtalk_mobile: Annotated[str | None, _handle("dingtalk_mobile")] = None
    dingtalk_user_id: Annotated[str | None, _handle("dingtalk_user_id")] = None
    wecom: Annotated[str | None, _handle("wecom")] = None
    feishu: Annotated[str | None, _handle("feishu")] = None
    slack: Annotated[str | None, _handle("slack")] = None
    email: Annotated[str | None, _handle("email")] = None

    def mention(self, name: str) -> Mention:
        handles = {k: v for k in _HANDLES if (v := getattr(self, k))}
        return Mention(name, handles)


PeopleSpec = dict[Annotated[str, Field(min_length=1, max_length=MAX_NAME_CHARS)], Person]


@dataclass(frozen=True)
class Directory:
    """Identity (case-folded) → the person it belongs to."""

    by_identity: Mapping[str, Mention] = field(default_factory=dict)

    @classmethod
    def of(cls, people: Mapping[str, Person]) -> Directory:
        found: dict[str, Mention] = {}
        for name, person in people.items():
            mention = person.mention(name)
            for identity in (name, *person.ids, person.email or ""):
                if identity:
                    found.setdefault(identity.casefold(), mention)
        return cls(found)

    def mentions(self, specs: Sequence[str], events: Sequence[Event]) -> tuple[Mention, ...]:
        """The people `specs` point at in the bad news among `events`, in order, each once;
        at most MAX_MENTIONS."""
        found: dict[str, Mention] = {}
        for event in events:
            if event.labels.get("status") not in BAD_NEWS:
                continue
            for spec in specs:
                identity = _identity(spec, event).strip()
                if not identity:
                    continue
                mention = self.by_identity.get(identity.casefold())
                if mention is None:
                    mention = Mention(identity[:MAX_NAME_CHARS])
                found.setdefault(mention.name.casefold(), mention)
        return tuple(found.values())[:MAX_MENTIONS]


def _identity(spec: str, event: Event) -> str:
    if spec == "actor":
        return event.labels.get("actor", "")
    return event.labels.get(spec.removeprefix("label:"), "")
