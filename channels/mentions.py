"""Who a message is for: people to @ in the chat, or to name where they cannot be @-ed.

The routing layer resolves a route's `mention:` against the `people:` directory
(app/routing/people.py) and hands each channel the `Mention`s of a notification; each
channel @-s a person by the handle its provider notifies (a DingTalk mobile, a WeCom
user id, a Feishu open_id, a Slack member id) and names everyone else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, get_args

# The handles a `people:` entry may give, one per provider (and DingTalk's two kinds).
HandleKind = Literal["dingtalk_mobile", "dingtalk_user_id", "wecom", "feishu", "slack", "email"]
HANDLE_KINDS: tuple[HandleKind, ...] = get_args(HandleKind)
# People @-ed in one message at most: a storm's hundred authors are no one's call to action.
MAX_MENTIONS = 10


@dataclass(frozen=True)
class Mention:
    """A person a message is for: the name readers see (the `people:` entry's, or the
    identity seen in the event when no entry knows it) and their handle per kind."""

    name: str
    handles: Mapping[HandleKind, str] = field(default_factory=dict)

    def handle(self, kind: HandleKind) -> str | None:
        return self.handles.get(kind) or None
