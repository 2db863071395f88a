"""Scrubbing secrets out of error text before it reaches logs, the store or the API.

Webhook URLs are credentials (Slack's path, DingTalk's access_token, WeCom's key),
so every error a channel raises passes through here first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, quote, quote_plus, urlsplit

from pydantic import BaseModel, SecretStr

MASK = "***"
# Any query-string value: signatures and tokens ride there even when not configured secrets.
_QUERY_VALUE = re.compile(r"([?&][\w.\-]+=)[^&\s'\"<>]+")
# Path segments this long in a secret URL are treated as tokens (Slack's T…/B…/secret).
_MIN_TOKEN_SEGMENT = 6


def _fragments(secret: str) -> set[str]:
    parts = {secret}
    url = urlsplit(secret)
    if url.scheme and url.netloc:
        parts.update(v for _, v in parse_qsl(url.query) if v)
        parts.update(s for s in url.path.split("/") if len(s) >= _MIN_TOKEN_SEGMENT)
    parts |= {quote(p, safe="") for p in parts} | {quote_plus(p) for p in parts}
    return {p for p in parts if p.strip()}


class Redactor:
    """Replaces every known secret (and any URL query value) in a text with ***."""

    def __init__(self, secrets: Iterable[str]) -> None:
        fragments: set[str] = set()
        for secret in secrets:
            fragments |= _fragments(secret)
        # Longest first, so a whole URL is masked before its token inside it.
        self._fragments = sorted(fragments, key=len, reverse=True)

    @classmethod
    def for_config(cls, config: BaseModel) -> Redactor:
        """A redactor for every SecretStr field set on `config`."""
        values: list[object] = []
        for name in type(config).model_fields:
            value = getattr(config, name)
            values += value.values() if isinstance(value, dict) else [value]
        return cls(v.get_secret_value() for v in values if isinstance(v, SecretStr))

    def __call__(self, text: str) -> str:
        for fragment in self._fragments:
            text = text.replace(fragment, MASK)
        return _QUERY_VALUE.sub(rf"\1{MASK}", text)
