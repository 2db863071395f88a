"""The one sandboxed Jinja2 environment every channel renders with.

Templates come from routes.yaml, written by ops: sandboxing keeps a template from
reaching into Python objects, and compiling at config load turns a typo into a
validation error instead of a failed send at 3 a.m.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

TEMPLATE_DIR = Path(__file__).parent / "templates"

OPTIONS: dict[str, Any] = {
    "loader": jinja2.FileSystemLoader(TEMPLATE_DIR),
    # Only the shipped *.html.j2 templates produce HTML; chat markdown must not be escaped.
    "autoescape": jinja2.select_autoescape(["html.j2"], default_for_string=False, default=False),
    "undefined": jinja2.ChainableUndefined,
    "trim_blocks": True,
    "lstrip_blocks": True,
    "keep_trailing_newline": False,
    # The shipped templates change only with a new release (a restart); checking each
    # file's mtime on every render was a system call per message.
    "auto_reload": False,
}
# Ops-written templates (routes.yaml) render sandboxed.
ENV = ImmutableSandboxedEnvironment(**OPTIONS)
# The shipped defaults are code we review, like the rest of channels/: they render
# without the sandbox's check on every attribute and call (a tenth of a delivery's time).
SHIPPED = jinja2.Environment(**OPTIONS)  # noqa: S701 - autoescape is in OPTIONS


def mrkdwn(text: object) -> str:
    """Escape the three characters Slack mrkdwn treats as control.

    https://api.slack.com/reference/surfaces/formatting#escaping
    """
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


ENV.filters["mrkdwn"] = SHIPPED.filters["mrkdwn"] = mrkdwn


@lru_cache(maxsize=256)
def compile_template(source: str) -> jinja2.Template:
    """Compile an ops-written template; raises jinja2.TemplateSyntaxError with a line number."""
    return ENV.from_string(source)


def named_template(name: str) -> jinja2.Template:
    """A default template shipped in channels/templates/."""
    return SHIPPED.get_template(name)
