"""From a Notification to fitted Messages: template choice, template context, titles.

Every templated channel renders the same way and differs only in its template, its
markup (how payload values are escaped), its size budget and the provider body it wraps
the text in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any, ClassVar

import jinja2

from app.events import Event
from channels import markup, sandbox
from channels.base import (
    ChannelConfig,
    DeliveryError,
    Message,
    Notification,
    PermanentError,
    TemplateFailed,
)
from channels.limits import Budget, fit, json_len, marker, truncate
from channels.mentions import MAX_MENTIONS, Mention
from channels.templating import MARKUP, Kind, failure, named_template, ops_template
from channels.wording import EN, Wording

# The icon per state: what readers see first (the word, in their language, is wording's).
_ICONS: dict[str, str] = {
    "firing": "🔥",
    "resolved": "✅",
    "fixed": "✅",
    "deployed": "🚀",
    "failure": "❌",
    "unstable": "⚠️",
    "success": "✅",
    "cancelled": "⏹",
    "skipped": "⏭",
    "running": "▶️",
    "queued": "⏳",
}
# Budgets below this cannot hold a readable message; splitting further is pointless.
MIN_BUDGET = 256
# Longest title (characters): a 60,000-character branch name must not make one. Each
# channel cuts further to what its provider shows (Slack's header, DingTalk's title…).
TITLE_CHARS = 1_000
# Text one template render may produce before it is stopped: an ops template looping
# over nothing still fills memory with its output.
MAX_TEMPLATE_OUTPUT = 4 * 1024 * 1024


def state_of(event: Event) -> str:
    """The key into _ICONS (and Wording.states) that best says what happened."""
    labels = event.labels
    if labels.get("transition") == "fixed":
        return "fixed"
    if labels.get("kind") == "deployment" and labels.get("status") == "success":
        return "deployed"
    status = labels.get("status", "")
    return status if status in _ICONS else "running"


def event_view(event: Event, words: Wording = EN) -> dict[str, Any]:
    """What a template sees of one event: the event's JSON plus display helpers, in the
    channel's language."""
    state = state_of(event)
    view = event.model_dump(mode="json")
    view.update(
        state=words.state(state),
        icon=_ICONS[state],
        resolved=event.labels.get("status") == "resolved",
        failed=event.labels.get("status") in {"failure", "unstable"},
        duration=words.duration(event.duration_s),
        by=words.by(event.labels.get("actor", "")),
        note=words.note(event),
        short_commit=event.labels.get("commit", "")[:8],
        summary=event.annotations.get("summary") or event.annotations.get("description", ""),
    )
    return view


def summary_title(notification: Notification, words: Wording = EN) -> str:
    """One line naming what happened; alert groups follow Alertmanager's [FIRING:n] style.

    At most TITLE_CHARS characters, without invisible controls or direction overrides.
    """
    title = _title(notification, words)
    if notification.note:
        title = f"{notification.note[:1].upper()}{notification.note[1:]} · {title}"
    title = markup.plain(title).replace("\n", " ")
    return truncate(title, Budget(TITLE_CHARS), "…")


def truncated_alerts(events: Sequence[Event]) -> int:
    """How many alerts Alertmanager left out of the notifications these events came in.

    Alertmanager (max_alerts) says so per notification (`truncatedAlerts`); every event
    of one carries the count, so the largest is what is known to be missing.
    """
    counts = (e.annotations.get("truncated_alerts", "") for e in events)
    return max((int(c) for c in counts if c.isdigit()), default=0)


def _title(notification: Notification, words: Wording) -> str:
    events = notification.events
    if not events:
        return words.nothing.format(receiver=notification.receiver, n=notification.folded)
    if notification.folded:
        # A rate-limit digest: say so, and count everything it stands for.
        return words.digest.format(n=len(events) + notification.folded)
    if all(e.labels.get("kind") == "alert" for e in events):
        firing = sum(1 for e in events if e.labels.get("status") != "resolved")
        head = words.firing.format(n=firing) if firing else words.all_resolved
        names = notification.group_labels or {"alertname": events[0].labels.get("pipeline", "")}
        return f"{head} " + " ".join(v for v in names.values() if v)
    if len(events) == 1:
        state = state_of(events[0])
        return words.single.format(
            icon=_ICONS[state], word=words.state(state), title=events[0].title
        )
    states = [words.state(state_of(e)) for e in events]
    counts = words.count_separator.join(
        words.count.format(n=states.count(w), word=w) for w in dict.fromkeys(states)
    )
    return words.several.format(n=len(events), counts=counts)


class TemplatedChannel:
    """Renders notifications through a Jinja2 template into messages within budget."""

    type_name: ClassVar[str]
    config_model: ClassVar[type[ChannelConfig]]
    # Default body template in channels/templates/.
    template_name: ClassVar[str] = "plain.txt.j2"
    # How values from payloads are escaped in the template's output.
    markup: ClassVar[Kind] = "plain"
    # Provider size limit of the text.
    budget: ClassVar[Budget] = Budget(65_536)

    def __init__(self, name: str, config: ChannelConfig) -> None:
        self.name = name
        self.config = config

    def text_budget(self) -> Budget:
        """This instance's budget for the template output (subclasses reserve for extras)."""
        return self.budget

    def markup_kind(self) -> Kind:
        return self.markup

    @property
    def words(self) -> Wording:
        """The language of this channel's messages."""
        return self.config.wording()

    def template_for(self, notification: Notification) -> jinja2.Template:
        source = notification.template or self.config.template
        kind = self.markup_kind()
        if source:
            return ops_template(source, kind)
        return named_template(self.default_template_name(), kind)

    def default_template_name(self) -> str:
        return self.template_name

    def build_body(
        self, title: str, text: str, source: Notification | None
    ) -> dict[str, object] | None:
        """The provider's request body for one message (None: the channel builds none)."""
        return None

    def body_of(self, message: Message) -> dict[str, object]:
        """The body to send: rendered with the message, or built now for a hand-made one."""
        if message.body is not None:
            return message.body
        return self.build_body(message.title, message.text, message.source) or {}

    async def render(self, notification: Notification, budget: int | None = None) -> list[Message]:
        """Ops-written templates render in a worker process within time and memory limits
        (channels/sandbox.py); the shipped ones render here (docs/channels.md says why)."""
        if notification.template or self.config.template:
            return await sandbox.render_sandboxed(self, notification, budget)
        return self._render_shipped(notification, budget)

    def render_blocking(
        self, notification: Notification, budget: int | None = None
    ) -> list[Message]:
        """`render`, waited for in this thread: for config checks, which have no loop."""
        if notification.template or self.config.template:
            return sandbox.render_sandboxed_blocking(self, notification, budget)
        return self._render_shipped(notification, budget)

    def _render_shipped(self, notification: Notification, budget: int | None) -> list[Message]:
        try:
            return self.render_now(notification, budget)
        except TemplateFailed as exc:
            raise TemplateFailed(f"the default template {exc.detail}") from exc
        except DeliveryError:
            raise
        except Exception as exc:
            # A payload the default template did not foresee: this delivery dies, with why.
            raise TemplateFailed(f"the default template {failure(exc)}") from exc

    def render_now(self, notification: Notification, budget: int | None = None) -> list[Message]:
        """`render`, in this thread."""
        fitted = self.text_budget()
        if budget is not None:
            fitted = fitted.shrunk(budget)
        mention = self.mention_line(notification)
        if mention:
            room = fitted.measure(mention) + self.mention_room(notification)
            fitted = fitted.shrunk(fitted.limit - room)
        template = self.template_for(notification)
        title = summary_title(notification, self.words)

        def render_text(events: Sequence[Event], part: str) -> str:
            context = self.context(notification, events, f"{title} {part}".strip(), part)
            return render_capped(template, context).strip()

        messages = []
        for p in fit(notification.events, render_text, fitted):
            part_title = f"{title} {marker(p.index, p.count)}".strip()
            source = replace(notification, events=p.items)
            text = p.text + mention
            messages.append(
                Message(
                    title=part_title,
                    text=text,
                    body=self.build_body(part_title, text, source),
                    source=source,
                    budget=fitted.limit,
                    part=p.index,
                    parts=p.count,
                )
            )
        return messages

    def at(self, person: Mention) -> str | None:
        """How this channel @-s `person` in the text, so the provider notifies them; None
        when it cannot (no handle for it): the person is then named."""
        return None

    def mentioned(self, notification: Notification) -> Sequence[Mention]:
        return notification.mentions[:MAX_MENTIONS]

    def mention_line(self, notification: Notification) -> str:
        """The lines after the text asking the route's people to look: `@handle` where
        the provider notifies them, their name (escaped: an unknown name is an event's
        value) where it cannot; "" when the route mentions no one."""
        people = self.mentioned(notification)
        if not people:
            return ""
        escape = MARKUP[self.markup_kind()].escape
        named = " ".join(self.at(p) or str(escape(p.name)) for p in people)
        return f"\n\n{named} {self.words.mention_ask}"

    def mention_room(self, notification: Notification) -> int:
        """Bytes the body spends on `notification`'s mentions outside the text (DingTalk's
        `at` lists, WeCom's `mentioned_list`)."""
        without = replace(notification, mentions=())
        bodies = [self.build_body("", "", n) for n in (notification, without)]
        return json_len(bodies[0] or {}) - json_len(bodies[1] or {})

    def context(
        self, notification: Notification, events: Sequence[Event], title: str, part: str
    ) -> dict[str, Any]:
        views = [event_view(e, self.words) for e in events]
        for view in views:
            link = notification.ack_links.get(view["id"])
            view["ack_url"] = link.url if link is not None else None
        return {
            "t": self.words,
            "language": self.words.language,
            "title": title,
            "part": part,
            "channel": self.name,
            "receiver": notification.receiver,
            "route": notification.route,
            "group_key": notification.group_key,
            "group_labels": dict(notification.group_labels),
            "is_fallback": notification.is_fallback,
            "folded": notification.folded,
            "truncated_alerts": truncated_alerts(notification.events),
            "note": notification.note,
            "events": views,
            # Names of the people the route mentions (the channel adds its own @ line).
            "mentions": [p.name for p in self.mentioned(notification)],
            "firing": [v for v in views if v["labels"].get("status") == "firing"],
            "resolved": [v for v in views if v["resolved"]],
        }

    async def split_for_retry(self, message: Message) -> list[Message]:
        """Render `message` again as smaller messages after the provider said TooLarge."""
        source = message.source
        if source is None:
            raise PermanentError("message too large and not renderable again")
        if len(source.events) > 1:
            half = len(source.events) // 2
            halves = (source.events[:half], source.events[half:])
            return [
                m
                for h in halves
                for m in await self.render(replace(source, events=h), message.budget)
            ]
        if message.budget is None or message.budget // 2 < MIN_BUDGET:
            raise PermanentError("message too large and cannot be split further")
        return await self.render(source, message.budget // 2)


def render_capped(template: jinja2.Template, context: dict[str, Any]) -> str:
    """`template.render(context)`, stopped once it has produced MAX_TEMPLATE_OUTPUT characters."""
    chunks: list[str] = []
    size = 0
    for chunk in template.generate(context):
        size += len(chunk)
        if size > MAX_TEMPLATE_OUTPUT:
            limit = MAX_TEMPLATE_OUTPUT // (1024 * 1024)
            raise TemplateFailed(f"stopped: it produced more than {limit} MiB of text")
        chunks.append(chunk)
    return "".join(chunks)
