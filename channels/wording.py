"""What the shipped templates, titles and notes say, in each language a channel speaks.

Each language is written for the people who read it — the Chinese for a DingTalk, WeCom
or Feishu group at 3 a.m., in the words Chinese ops teams use ("连续失败 3 次", "请查看
日志，修复或回滚"), not translated word by word. A sentence is whole in each language
(its word order, its punctuation: full-width in Chinese), so templates print sentences
and never assemble them from English pieces.

Templates see one `Wording` as `t`; each event's `state`, `duration`, `by` and `note`
come in the channel's language too (channels/rendering.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from app.events import Event

Language = Literal["zh", "en"]
LANGUAGES: tuple[Language, ...] = get_args(Language)


@dataclass(frozen=True)
class Wording:
    """One language's words for states, titles, notes and footers."""

    language: Language
    # State key (channels/rendering.py) -> the word readers scan for.
    states: dict[str, str]
    # Heading over the resolved part of a message.
    resolved: str
    # Label of the button or link that opens the event.
    view: str
    # Label of the link that acknowledges an event (SIGNALBOX_EXTERNAL_URL).
    acknowledge: str
    # What a note says, per kind of news (see note_key); `{n}` is the failure streak.
    notes: dict[str, str]
    # "{}" is an actor; a duration's hours and minutes, minutes and seconds, or seconds.
    by_actor: str
    hms: tuple[str, str]
    ms: tuple[str, str]
    s: str
    # Titles.
    single: str
    firing: str
    all_resolved: str
    digest: str
    several: str
    count: str
    count_separator: str
    nothing: str
    # Footers.
    folded_line: str
    truncated_line: str
    fallback_line: str
    # After the @-mentions of a message: what they are asked to do.
    mention_ask: str
    # E-mail thread subjects when no pipeline or alert names the thread.
    alerts_to: str
    events_to: str

    def state(self, key: str) -> str:
        return self.states[key]

    def by(self, actor: str) -> str:
        return self.by_actor.format(actor) if actor else ""

    def duration(self, seconds: float | None) -> str:
        """A run's length as people say it ("4m 12s", "4分12秒")."""
        if seconds is None:
            return ""
        total = round(seconds)
        hours, rest = divmod(total, 3600)
        minutes, secs = divmod(rest, 60)
        if hours:
            return self.hms[0].format(hours) + self.hms[1].format(minutes)
        if minutes:
            return self.ms[0].format(minutes) + self.ms[1].format(secs)
        return self.s.format(secs)

    def note(self, event: Event) -> str:
        """One sentence on what this news means and what to do, or "" when nothing."""
        key = note_key(event)
        if key is None:
            return ""
        streak = event.labels.get("failure_streak", "")
        if key == "still_failing" and not streak.isdigit():
            key = "failed"
        return self.notes[key].format(n=streak)

    def folded(self, count: int) -> str:
        return self.folded_line.format(n=count) if count else ""

    def truncated(self, count: int) -> str:
        return self.truncated_line.format(n=count) if count else ""

    def fallback(self, is_fallback: bool) -> str:
        return self.fallback_line if is_fallback else ""


def note_key(event: Event) -> str | None:
    """Which note an event gets: the kind of news it is, or None for progress."""
    labels = event.labels
    status, kind = labels.get("status", ""), labels.get("kind", "")
    if kind == "alert":
        return "resolved" if status == "resolved" else "firing"
    if labels.get("transition") == "fixed":
        return "fixed"
    if status not in {"failure", "unstable"}:
        return None
    if kind == "deployment":
        return "deploy_failed"
    transition = labels.get("transition")
    if transition in {"broken", "still_failing"}:
        return transition
    return "failed"


EN = Wording(
    language="en",
    states={
        "firing": "FIRING",
        "resolved": "RESOLVED",
        "fixed": "FIXED",
        "deployed": "DEPLOYED",
        "failure": "FAILED",
        "unstable": "UNSTABLE",
        "success": "SUCCESS",
        "cancelled": "CANCELLED",
        "skipped": "SKIPPED",
        "running": "RUNNING",
        "queued": "QUEUED",
    },
    resolved="Resolved",
    view="Open",
    acknowledge="Acknowledge",
    notes={
        "broken": "Newly broken: the previous run passed. Check the log, then fix or revert.",
        "still_failing": "Failing {n} runs in a row. Check the log, then fix or revert.",
        "failed": "Check the log.",
        "deploy_failed": "The deployment failed: check its log and roll back if needed.",
        "fixed": "Passing again: nothing to do.",
        "firing": "Look into it now.",
        "resolved": "Back to normal: nothing to do.",
    },
    by_actor="by {}",
    hms=("{}h ", "{}m"),
    ms=("{}m ", "{}s"),
    s="{}s",
    single="{icon} {word}: {title}",
    firing="[FIRING:{n}]",
    all_resolved="[RESOLVED]",
    digest="Digest: {n} events while rate-limited",
    several="{n} events ({counts})",
    count="{n} {word}",
    count_separator=", ",
    nothing="{receiver}: {n} event(s)",
    folded_line="… and {n} more event(s) not listed",
    truncated_line="… and {n} more not sent by Alertmanager",
    fallback_line="(delivered to the fallback channel)",
    mention_ask="please take a look",
    alerts_to="Alerts to {receiver}",
    events_to="Events to {receiver}",
)

ZH = Wording(
    language="zh",
    states={
        "firing": "告警中",
        "resolved": "已恢复",
        "fixed": "已修复",
        "deployed": "已部署",
        "failure": "失败",
        "unstable": "不稳定",
        "success": "成功",
        "cancelled": "已取消",
        "skipped": "已跳过",
        "running": "运行中",
        "queued": "排队中",
    },
    resolved="已恢复",
    view="查看详情",
    acknowledge="认领告警",
    notes={
        "broken": "上一次运行还是好的，这次失败了：请查看日志，修复或回滚。",
        "still_failing": "已经连续失败 {n} 次：请尽快查看日志，修复或回滚。",
        "failed": "请查看日志。",
        "deploy_failed": "部署失败：请查看日志，必要时回滚。",
        "fixed": "已经恢复通过，无需处理。",
        "firing": "请尽快处理。",
        "resolved": "已恢复正常，无需处理。",
    },
    by_actor="由 {} 触发",
    hms=("{}小时", "{}分"),
    ms=("{}分", "{}秒"),
    s="{}秒",
    single="{icon} {word}：{title}",
    firing="[告警中:{n}]",
    all_resolved="[已恢复]",
    digest="汇总：限流期间共 {n} 条事件",
    several="{n} 条事件（{counts}）",
    count="{n} 条{word}",
    count_separator="，",
    nothing="{receiver}：{n} 条事件",
    folded_line="……另有 {n} 条事件未列出",
    truncated_line="……另有 {n} 条告警 Alertmanager 没有发来",
    fallback_line="（原渠道发送失败，由备用渠道送达）",
    mention_ask="请关注并处理",
    alerts_to="发给 {receiver} 的告警",
    events_to="发给 {receiver} 的事件",
)

WORDINGS: dict[Language, Wording] = {"en": EN, "zh": ZH}
