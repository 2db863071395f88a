"""The package layering: the JSON API and the console stand side by side on app/web."""

from __future__ import annotations

import ast
from pathlib import Path

APP = Path(__file__).resolve().parents[1] / "app"

# package -> packages it must not import (directly, by any import form).
FORBIDDEN = {
    "api": ("app.ui",),
    "ui": ("app.api",),
    "web": ("app.api", "app.ui"),
}


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_api_and_console_do_not_import_each_other() -> None:
    """No module of app/api imports app.ui, none of app/ui imports app.api, app/web neither."""
    offending = [
        f"{path.relative_to(APP.parent)} imports {name}"
        for package, banned in FORBIDDEN.items()
        for path in sorted((APP / package).rglob("*.py"))
        for name in sorted(_imports(path))
        if any(name == b or name.startswith(b + ".") for b in banned)
    ]
    assert offending == []


def test_the_live_feed_broadcaster_is_neither_api_nor_console() -> None:
    """app/live.py, which the hooks publish to and the console reads, imports neither side."""
    names = _imports(APP / "live.py")
    assert not [n for n in names if n.startswith(("app.api", "app.ui"))]
