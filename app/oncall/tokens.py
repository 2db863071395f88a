"""Signed acknowledgement links: whoever holds one may acknowledge that one event, and
do nothing else with it, until it expires.

A token is `<event id>.<expiry>.<mac>`: HMAC-SHA256 under a key every replica reads from
the store (made once, at the first start), so a link minted by one replica is good on
all. The key never leaves the store and the process; tokens name nothing but the event.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass

from app.events import Event
from app.oncall.messages import ACKNOWLEDGEMENT
from app.oncall.subjects import is_trouble, on_call
from app.store import DeliveryRecord, Store
from channels.base import AckLink

KEY_NAME = "ack-links"
# Event ids are time-ordered digits and hex (app/events.py); expiry is epoch seconds.
_TOKEN = re.compile(r"([0-9a-f-]{1,64})\.([0-9]{1,12})\.([A-Za-z0-9_-]{43})")


class BadToken(Exception):
    """The token was not made here, was altered, or has expired: the text says which."""


@dataclass(frozen=True)
class AckLinks:
    """Mints and checks tokens; `external_url` (SIGNALBOX_EXTERNAL_URL) makes them links."""

    key: bytes
    external_url: str | None
    ttl: float

    def token(self, event_id: str, now: float | None = None) -> str:
        expires = int((time.time() if now is None else now) + self.ttl)
        return f"{event_id}.{expires}.{self._mac(event_id, expires)}"

    def url(self, token: str) -> str | None:
        if self.external_url is None:
            return None
        return f"{self.external_url.rstrip('/')}/ui/ack/{token}"

    def event_of(self, token: str, now: float | None = None) -> str:
        """The event a genuine, unexpired token names; raises BadToken."""
        found = _TOKEN.fullmatch(token)
        if found is None:
            raise BadToken("this is not an acknowledgement link")
        event_id, expires, mac = found.group(1), int(found.group(2)), found.group(3)
        if not hmac.compare_digest(mac, self._mac(event_id, expires)):
            raise BadToken("this acknowledgement link was altered or is not from this service")
        if (time.time() if now is None else now) >= expires:
            raise BadToken("this acknowledgement link has expired: acknowledge in the console")
        return event_id

    def _mac(self, event_id: str, expires: int) -> str:
        signed = f"signalbox ack\x00{event_id}\x00{expires}".encode()
        digest = hmac.new(self.key, signed, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def ack_links(
    links: AckLinks | None, delivery: DeliveryRecord, events: Sequence[Event]
) -> dict[str, AckLink]:
    """The links a delivery's message carries: one per event in trouble, none in the
    announcement of an acknowledgement."""
    if links is None or delivery.purpose == ACKNOWLEDGEMENT:
        return {}
    now = time.time()
    tokens = {e.id: links.token(e.id, now) for e in events if on_call(e) and is_trouble(e)}
    return {i: AckLink(t, links.url(t)) for i, t in tokens.items()}


async def load_links(store: Store, external_url: str | None, ttl: float) -> AckLinks:
    """The links of this store's key, which the first replica to start makes."""
    candidate = secrets.token_urlsafe(32)
    key = await store.write(lambda tx: tx.signing_key(KEY_NAME, candidate))
    return AckLinks(key.encode(), external_url, ttl)
