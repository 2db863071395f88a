"""Jinja2 for the console: one environment, the status vocabulary, and the page helper."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from app.context import AppContext
from app.ui.sparkline import svg

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"

templates = Jinja2Templates(directory=HERE / "templates")

# Status is never colour alone: every state has a glyph and its word; the CSS class
# adds colour. "good"/"bad"/"warn"/"idle"/"busy" are the colour families.
STATUS_LOOK: dict[str, tuple[str, str]] = {
    "success": ("✓", "good"),
    "sent": ("✓", "good"),
    "resolved": ("✓", "good"),
    "failure": ("✗", "bad"),
    "dead": ("✗", "bad"),
    "firing": ("▲", "bad"),
    "unstable": ("!", "warn"),
    "failed": ("↻", "warn"),
    "cancelled": ("⊘", "idle"),
    "skipped": ("–", "idle"),
    "folded": ("≡", "idle"),
    "queued": ("○", "busy"),
    "pending": ("○", "busy"),
    "running": ("▶", "busy"),
    "retry": ("↺", "busy"),
    "waiting": ("◷", "busy"),
    "suppressed": ("⊘", "idle"),
}

TRANSITION_LOOK: dict[str, tuple[str, str]] = {
    "broken": ("↘", "bad"),
    "still_failing": ("→", "bad"),
    "fixed": ("↗", "good"),
    "unchanged": ("=", "idle"),
}


def status_look(status: str) -> tuple[str, str]:
    return STATUS_LOOK.get(status, ("•", "idle"))


def transition_look(transition: str) -> tuple[str, str]:
    return TRANSITION_LOOK.get(transition, ("•", "idle"))


def when(value: str | float | datetime | None) -> str:
    """A timestamp as `YYYY-MM-DD HH:MM:SS` UTC; ISO strings, epoch seconds or datetimes."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        moment = datetime.fromisoformat(value)
    elif isinstance(value, datetime):
        moment = value
    else:
        moment = datetime.fromtimestamp(value, UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def http_url(value: object) -> str | None:
    """`value` when it is an absolute http(s) URL, else None: only those become links.

    Payload URLs are the sender's (or anyone's, on a source without a token): a
    `javascript:` one would run in the console when clicked. Browsers drop leading spaces
    and controls and remove tabs and newlines anywhere before reading a scheme (WHATWG
    URL), so "java\tscript:" is javascript:; a URL holding any such character is refused
    rather than read the way a browser might.
    """
    if not isinstance(value, str) or not value.lower().startswith(("http://", "https://")):
        return None
    if any(ord(char) <= 0x20 or ord(char) == 0x7F for char in value):
        return None
    return value


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m {whole % 60:02d}s"
    return f"{whole // 3600}h {whole % 3600 // 60:02d}m"


# Outcomes that may still change: a send under way or waiting to retry, a group waiting.
OPEN_OUTCOMES = frozenset({"waiting", "pending", "failed"})
# A routed event with no outcome yet is settling for this long, then taken as it is.
SETTLING_SECONDS = 120.0


def settling(item: Mapping[str, Any]) -> bool:
    """Whether an event's row may still change: what it polls for (see _event.html)."""
    outcomes = item.get("outcomes") or []
    if any(o.get("outcome") in OPEN_OUTCOMES for o in outcomes):
        return True
    routing = item.get("routing") or {}
    if outcomes or routing.get("dropped") or not routing.get("receivers"):
        return False
    received = datetime.fromisoformat(str(item["received_at"]))
    return (datetime.now(UTC) - received).total_seconds() < SETTLING_SECONDS


templates.env.globals.update(
    status_look=status_look, transition_look=transition_look, settling=settling
)
templates.env.filters.update(when=when, duration=duration, sparkline=svg, http_url=http_url)


def console_is_open(ctx: AppContext) -> bool:
    token = ctx.settings.api_token
    return token is None or not token.get_secret_value()


def page(
    request: Request, ctx: AppContext, name: str, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """A full console page: the shared layout knows which tab is current and the open banner."""
    return templates.TemplateResponse(
        request, name, {"open_console": console_is_open(ctx), **context}, status_code=status_code
    )


def fragment(name: str, **context: Any) -> str:
    """A partial rendered outside a request: a live feed row pushed over SSE."""
    return templates.env.get_template(name).render(**context)
