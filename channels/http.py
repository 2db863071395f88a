"""What every HTTP channel shares: one pooled client, one timeout, one retry decision.

Retry-or-not is decided here once (Alertmanager's `RetryIfStatusCode` idea): 2xx is
sent, 429 and 5xx are worth retrying (honouring Retry-After), any other status is
permanent, 413 is `TooLarge` so the bus may split. Each channel then checks its own
body (`errcode != 0`, Slack's literal "ok").
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import lru_cache
from http.cookiejar import CookieJar
from typing import Any, ClassVar

import httpx
import orjson
from pydantic import BaseModel, SecretStr, ValidationError, field_validator

from channels.base import (
    ChannelConfig,
    DeliveryError,
    DeliveryResult,
    PermanentError,
    SettingError,
    TooLarge,
    TransientError,
    secret_set,
)
from channels.redact import Redactor
from channels.rendering import TemplatedChannel
from channels.transport import AiohttpTransport

# Enough of a provider's error body to diagnose, short enough for a log line.
_MAX_DETAIL = 300


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP-date (RFC 9110)."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def classify_http(
    status: int, retry_after_header: str | None = None, detail: str = ""
) -> DeliveryError | None:
    """None when `status` means sent, else the error to raise (not yet raised)."""
    text = f"HTTP {status}" + (f": {detail}" if detail else "")
    if 200 <= status < 300:
        return None
    if status == 429 or status >= 500:
        return TransientError(text, retry_after=parse_retry_after(retry_after_header))
    if status == 413:
        return TooLarge(text)
    return PermanentError(text)


def json_body(body: Mapping[str, object]) -> bytes:
    """A request body as UTF-8 JSON (orjson: a fraction of json.dumps's time per message)."""
    return orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS)


@lru_cache(maxsize=64)
def _parsed(url: str) -> httpx.URL:
    # httpx parses a str URL on every request; a channel posts to the same few.
    return httpx.URL(url)


class _NoCookies(CookieJar):
    """Providers' answers set no state we should send back: nothing is kept."""

    def extract_cookies(self, response: Any, request: Any) -> None:
        return None


def check_url(url: str) -> None:
    """Raise SettingError unless the client can POST to `url` (empty is fine: disabled).

    Parsed by httpx as `post()` parses it; the message never quotes the URL, which is
    usually a credential.
    """
    if not url.strip():
        return
    if url != url.strip():
        raise SettingError("url has spaces or a line break around it")
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        raise SettingError("url is not a valid URL") from None
    if parsed.scheme not in ("http", "https"):
        raise SettingError("url must start with http:// or https://")
    if not parsed.host or "%" in parsed.host:
        raise SettingError("url has no valid host name")
    if parsed.userinfo:
        # httpx turns them into an Authorization header and aiohttp then refuses the
        # request, on every retry: refuse them here, once.
        raise SettingError(
            "url carries credentials (user:password@), which the HTTP client refuses: "
            "pass them in a header instead, e.g. on a webhook channel headers: "
            '{Authorization: "Basic ${HOOK_BASIC_AUTH}"}'
        )
    if parsed.port is not None and not 1 <= parsed.port <= 65535:
        raise SettingError("url has a port outside 1-65535")


class HttpConfig(ChannelConfig):
    """A channel that POSTs to one URL that is itself a credential."""

    url: SecretStr

    @field_validator("url")
    @classmethod
    def _usable(cls, url: SecretStr) -> SecretStr:
        check_url(url.get_secret_value())
        return url

    def enabled(self) -> bool:
        return secret_set(self.url)


class HttpChannel(TemplatedChannel):
    """Base of the HTTP channels: a pooled client per instance, translated exceptions."""

    config: HttpConfig
    user_agent: ClassVar[str] = "signalbox"

    def __init__(self, name: str, config: ChannelConfig) -> None:
        # Any config with a timeout: not every provider's URL is the credential (Telegram's
        # carries its token, PagerDuty's body its routing key).
        super().__init__(name, config)
        self.redact = Redactor.for_config(config)
        self._client = httpx.AsyncClient(
            timeout=config.timeout,
            follow_redirects=False,
            headers={"User-Agent": self.user_agent},
            transport=AiohttpTransport(),
            cookies=_NoCookies(),
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def post(
        self, url: str, content: bytes, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        """POST and return the answer; transport failures become TransientError, redacted."""
        all_headers = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
        try:
            # httpx's timeout is per phase; this bounds the whole exchange too.
            async with asyncio.timeout(self.config.timeout):
                return await self._client.post(_parsed(url), content=content, headers=all_headers)
        except (TimeoutError, httpx.TimeoutException) as exc:
            raise TransientError(f"timed out after {self.config.timeout:g}s") from exc
        except httpx.HTTPError as exc:
            raise TransientError(self.redact(f"{type(exc).__name__}: {exc}")) from exc

    def check_status(self, response: httpx.Response) -> None:
        """Raise the shared status classification's error, if any, with a redacted body."""
        if 200 <= response.status_code < 300:
            return  # sent: no body excerpt to decode and redact
        error = classify_http(
            response.status_code, response.headers.get("Retry-After"), self.body_excerpt(response)
        )
        if error is not None:
            raise error

    def body_excerpt(self, response: httpx.Response) -> str:
        return self.redact(response.text[:_MAX_DETAIL].strip())

    async def post_json(
        self, url: str, body: Mapping[str, object], headers: dict[str, str] | None = None
    ) -> httpx.Response:
        return await self.post(url, json_body(body), headers)


class ErrcodeAnswer(BaseModel):
    """DingTalk's and WeCom's answer: HTTP 200 and an `errcode` that must be 0."""

    errcode: int
    errmsg: str = ""


class ErrcodeChannel(HttpChannel):
    """A provider whose JSON answer carries a code, 0 on success (`{"errcode": 0, ...}`)."""

    # How the answer names its code, in error details ("errcode 93000: …").
    code_name: ClassVar[str] = "errcode"
    # code -> seconds to wait: the provider throttles and says so only by code.
    transient_codes: ClassVar[Mapping[int, float | None]] = {}
    # codes meaning "message too long": the bus may split and retry.
    too_large_codes: ClassVar[frozenset[int]] = frozenset()

    def answer_code(self, response: httpx.Response) -> tuple[int, str] | None:
        """(code, message) of the provider's JSON answer; None when it holds no code."""
        try:
            answer = ErrcodeAnswer.model_validate_json(response.content)
        except ValidationError:
            return None
        return answer.errcode, answer.errmsg

    def check_errcode(self, response: httpx.Response) -> DeliveryResult:
        """Sent on code 0; else the code decides, unless the status alone says retry
        (429, 5xx) or there is no code to read."""
        status = response.status_code
        if status == 429 or status >= 500:
            self.check_status(response)
        found = self.answer_code(response)
        if found is None or (found[0] == 0 and not 200 <= status < 300):
            self.check_status(response)
            detail = f"HTTP {status}: unexpected body {self.body_excerpt(response)!r}"
            raise PermanentError(detail)
        code, message = found
        if code == 0:
            return DeliveryResult(detail=f"{self.code_name} 0 {message}".strip())
        detail = self.redact(f"{self.code_name} {code}: {message[:_MAX_DETAIL]}")
        if code in self.transient_codes:
            raise TransientError(detail, retry_after=self.transient_codes[code])
        if code in self.too_large_codes:
            raise TooLarge(detail)
        raise PermanentError(detail)
