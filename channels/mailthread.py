"""Which mail thread a notification belongs to, and the headers that keep it there.

A failure and its fix, an alert's firing and its resolution, must land in one
conversation in every client, though Signalbox remembers no Message-ID it sent. What each
client threads on:

- Gmail: the same subject (prefixes such as "Re:" aside) and a References header naming
  an ID seen earlier in the thread, or "consistently the same message ID"
  (https://workspaceupdates.googleblog.com/2019/03/threading-changes-in-gmail-conversation-view.html).
- Outlook / Exchange: the conversation ID is the MD5 of the conversation topic (the
  Thread-Topic header, else the normalised subject) unless the sender's MAPI client set
  index tracking, which internet mail cannot
  (https://learn.microsoft.com/en-us/openspecs/exchange_server_protocols/ms-oxomsg/f8e4a5fa-cb73-4eca-b174-72e1fda821a6);
  Thread-Index orders the messages within it
  (https://learn.microsoft.com/en-us/openspecs/exchange_server_protocols/ms-oxomsg/9e994fbb-b839-495f-84e3-2c8c02c7dd9b).
- Thunderbird: References / In-Reply-To (its default "strict threading" ignores subjects).

So every mail of a thread carries the same subject, Thread-Topic and Thread-Index GUID,
and In-Reply-To/References naming one virtual root Message-ID derived from the thread's
subject: a pipeline on a branch, an alert (its fingerprint) when alerts are not grouped,
or the alert group. What changed (FAILED, FIXED, FIRING, RESOLVED) is the first line of
the body, which clients show as the preview.
"""

from __future__ import annotations

import base64
import hashlib
import time
from dataclasses import dataclass
from email.utils import parseaddr

from app.events import Event
from channels.base import Notification
from channels.limits import Budget, truncate
from channels.markup import plain
from channels.wording import EN, Wording

# Subjects longer than this are cut (Outlook hashes only the first 255 characters of a
# topic: a cut subject gets a short hash of its thread so two threads stay two).
SUBJECT = Budget(200)
FALLBACK_DOMAIN = "signalbox.invalid"
# Labels Signalbox adds to an alert's own (and its name, which leads the subject); the
# rest identify the alert in its subject.
_NOT_IDENTIFYING = frozenset(
    {"source", "kind", "status", "project", "pipeline", "receiver", "alertname"}
)
# 100-ns intervals between 1601-01-01 (FILETIME's epoch) and 1970-01-01.
_FILETIME_EPOCH = 116_444_736_000_000_000


@dataclass(frozen=True)
class Thread:
    key: str
    topic: str

    def root_id(self, domain: str) -> str:
        """The Message-ID every mail of the thread replies to."""
        return message_id(f"thread\0{self.key}", domain)

    def subject(self) -> str:
        if SUBJECT.fits(self.topic):
            return self.topic
        tag = f" #{hashlib.sha256(self.key.encode()).hexdigest()[:8]}"
        return truncate(self.topic, SUBJECT.shrunk(SUBJECT.limit - len(tag)), "…") + tag

    def index(self, now: float | None = None) -> str:
        """Thread-Index: 0x01, the top 40 bits of the current FILETIME, the thread's GUID."""
        filetime = int((time.time() if now is None else now) * 10_000_000) + _FILETIME_EPOCH
        guid = hashlib.md5(self.key.encode(), usedforsecurity=False).digest()
        return base64.b64encode(b"\x01" + (filetime >> 24).to_bytes(5, "big") + guid).decode()


def message_id(seed: str, domain: str) -> str:
    return f"<{hashlib.sha256(seed.encode()).hexdigest()[:32]}@{domain}>"


def mail_domain(sender: str) -> str:
    """The domain of the address in a From value (`Name 通知 <sb@example.com>` included),
    as ASCII for a Message-ID."""
    domain = parseaddr(sender)[1].rpartition("@")[2].strip().lower()
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        return FALLBACK_DOMAIN
    valid = ascii_domain and all(c.isalnum() or c in "-." for c in ascii_domain)
    return ascii_domain if valid else FALLBACK_DOMAIN


def thread_of(source: Notification, words: Wording = EN) -> Thread:
    """The thread a notification's mail belongs to, for its receiver; `words` names the
    threads no pipeline or alert names."""
    events = source.events
    receiver = source.receiver
    if events and all(e.labels.get("kind") == "alert" for e in events):
        if len(events) == 1 and not source.group_labels:
            # Not grouped (group_wait 0s): one thread per alert, firing and resolved.
            alert = events[0]
            return Thread(f"alert\0{receiver}\0{alert.fingerprint}", _alert_topic(alert))
        names = " ".join(v for v in source.group_labels.values() if v) or words.alerts_to.format(
            receiver=receiver
        )
        return Thread(f"group\0{receiver}\0{source.group_key}", _one_line(names))
    subjects = {_pipeline(e) for e in events}
    if len(subjects) == 1:
        (parts,) = subjects
        topic = " · ".join(p for p in parts[1:] if p)
        return Thread("pipeline\0" + "\0".join((receiver, *parts)), _one_line(topic))
    return Thread(
        f"group\0{receiver}\0{source.group_key}",
        _one_line(words.events_to.format(receiver=receiver)),
    )


def _pipeline(event: Event) -> tuple[str, ...]:
    labels = event.labels
    return tuple(labels.get(k, "") for k in ("source", "project", "pipeline", "branch"))


def _alert_topic(alert: Event) -> str:
    """Alertmanager's subject style without the status: name (identifying label values)."""
    labels = alert.labels
    rest = [v for k, v in sorted(labels.items()) if k not in _NOT_IDENTIFYING and v]
    name = labels.get("alertname") or labels.get("pipeline", "alert")
    return _one_line(f"{name} ({' '.join(rest)})" if rest else name)


def _one_line(text: str) -> str:
    """A header value: no controls, no line breaks (they would end the header)."""
    return " ".join(plain(text).split())
