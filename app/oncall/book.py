"""The silences and acknowledgements in force, as every judgement reads them.

Routing judges each event against them on the store's reader thread. Reading them all
for every event would cost a query per silence and ack; instead the view is kept and
read again only when the store's on-call version changed (one primary-key lookup per
event), so a silence made on any replica applies to the very next event any replica
routes. Silences are compiled once; their time window is judged at each use, so one
that expires or starts needs no write.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from app.events import Event
from app.logs import log
from app.oncall.subjects import incarnation, is_trouble, on_call, subject_key
from app.routing.matchers import Matcher, MatcherError, parse_matcher
from app.store.oncall import Ack, OncallReads, Silence


@dataclass(frozen=True)
class LiveSilence:
    silence: Silence
    matchers: tuple[Matcher, ...]

    def quiets(self, labels: Mapping[str, str], now: float) -> bool:
        s = self.silence
        return s.starts_at <= now < s.ends_at and all(m.matches(labels) for m in self.matchers)


@dataclass(frozen=True)
class OncallView:
    version: str
    silences: tuple[LiveSilence, ...] = ()
    # subject -> its acknowledgements not ended (one per trouble, newest first)
    acks: Mapping[str, tuple[Ack, ...]] = field(default_factory=dict)

    def silence_of(self, labels: Mapping[str, str], now: float) -> Silence | None:
        """The silence quieting these labels at `now` (the one ending last), or None."""
        found = [s.silence for s in self.silences if s.quiets(labels, now)]
        return max(found, key=lambda s: s.ends_at) if found else None

    def ack_of(self, event: Event) -> Ack | None:
        """The acknowledgement covering this event's trouble, or None (not trouble, or
        nobody owns it)."""
        if not on_call(event) or not is_trouble(event):
            return None
        mine = incarnation(event)
        for ack in self.acks.get(subject_key(event), ()):
            if not ack.incarnation or ack.incarnation == mine:
                return ack
        return None


def silenced_reason(silence: Silence) -> str:
    return f"silenced by {silence.id}"


def silenced_now(tx: OncallReads, labels: Sequence[Mapping[str, str]]) -> list[str | None]:
    """For each label set, "silenced by <id>" when a silence in force now matches it."""
    now = time.time()
    view = BOOK.view(tx, now)
    return [
        silenced_reason(found) if (found := view.silence_of(one, now)) else None for one in labels
    ]


def acked(tx: OncallReads, events: Sequence[Event]) -> dict[str, str]:
    """Fingerprint -> "acknowledged by …" for those of these events whose trouble is
    acknowledged now."""
    view = BOOK.view(tx, time.time())
    return {e.fingerprint: acked_reason(a) for e in events if (a := view.ack_of(e)) is not None}


def acked_reason(ack: Ack) -> str:
    return f"acknowledged by {ack.by}"


class OncallBook:
    """The process's view of the on-call state, for any thread: a view is immutable, and
    replacing it is one assignment."""

    def __init__(self) -> None:
        self._view: OncallView | None = None

    def view(self, tx: OncallReads, now: float) -> OncallView:
        version = tx.oncall_version()
        view = self._view
        if view is not None and view.version == version:
            return view
        known = {s.silence.id: s for s in view.silences} if view is not None else {}
        silences = tuple(
            live for s in tx.live_silences(now) if (live := _compiled(s, known.get(s.id)))
        )
        acks: dict[str, list[Ack]] = {}
        for ack in tx.active_acks():
            acks.setdefault(ack.subject, []).insert(0, ack)
        self._view = OncallView(version, silences, {k: tuple(v) for k, v in acks.items()})
        return self._view


def _compiled(silence: Silence, known: LiveSilence | None) -> LiveSilence | None:
    if known is not None and known.silence.matchers == silence.matchers:
        return LiveSilence(silence, known.matchers)
    try:
        return LiveSilence(silence, tuple(parse_matcher(m) for m in silence.matchers))
    except MatcherError as exc:
        # Only a hand-edited row can hold one (the API refuses them): skip it, loudly,
        # rather than fail the routing of every event.
        log(
            logging.ERROR,
            "stored silence has an invalid matcher",
            silence=silence.id,
            error=str(exc),
        )
        return None


# One per process: the view is keyed by the database's on-call version (which names the
# database too), so stores on several databases only take turns filling it.
BOOK = OncallBook()
