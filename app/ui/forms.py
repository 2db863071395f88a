"""Reading a console form's url-encoded body, bounded like every body."""

from __future__ import annotations

from urllib.parse import parse_qs

from fastapi import Request

from app.context import AppContext
from app.web.body import read_limited

# Form fields whose values are kept, at most this long each.
MAX_FIELD = 4000


async def read_form(request: Request, ctx: AppContext) -> dict[str, str]:
    """The form's fields (the last value of each), stripped; missing ones are absent."""
    body = await read_limited(request, ctx.settings.max_body_bytes)
    fields = parse_qs(body.decode("utf-8", "replace"), max_num_fields=50)
    return {name: values[-1].strip()[:MAX_FIELD] for name, values in fields.items()}
