"""The generic-source examples of docs/sources.md, read from the file, so the tests run what
the docs show (each block follows an `<!-- example: NAME -->` comment)."""

from __future__ import annotations

import re

from app.routing.config import RoutingConfig, parse_config
from app.sources import resolve
from app.sources.generic import GenericSource
from fixtures import REPO

DOCS = REPO / "docs" / "sources.md"


def doc_example(name: str) -> str:
    """The fenced block after `<!-- example: name -->` in docs/sources.md."""
    text = DOCS.read_text("utf-8")
    found = re.search(rf"<!-- example: {re.escape(name)} -->\n```\w*\n(.*?)```", text, re.S)
    assert found, f"docs/sources.md has no example {name!r}"
    return found.group(1)


def generic_config(yaml_text: str, **env: str) -> RoutingConfig:
    """A routes.yaml of `yaml_text` (a `sources:` block) and a log channel for everything."""
    text = yaml_text + "channels:\n  stdout: { type: log }\nfallback: [stdout]\n"
    return parse_config(text.encode(), "routes.yaml", env=env)


def generic_source(config: RoutingConfig, name: str) -> GenericSource:
    found = resolve(f"generic/{name}", config.sources)
    assert found is not None
    module = found[0]
    assert isinstance(module, GenericSource)
    return module
