"""Every template in force, rendered on every sample event before the config is accepted.

`template: "{{ 1 // 0 }}"` compiles, so only rendering finds it. At `signalbox check` and
every reload each channel renders every sample of app/samples.py (alerts, pipelines,
jobs, deployments, groups, a digest, a fallback, Chinese text) with its own template (or
its default ones), and once more for each route template and each receiver of that
route — through the channel's own rendering (`render_blocking`, the code the bus sends
with, ops templates in the same killable worker processes). A failure
rejects the file, naming the channel or route, the template's line and the sample.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from app.routing.errors import ConfigError
from app.routing.tree import Route
from app.routing.yamlsource import Loc, YamlDocument
from app.samples import Sample, sample_notifications
from channels import CHANNEL_TYPES
from channels.base import Channel, ChannelConfig, TemplateFailed


@dataclass(frozen=True)
class _RouteTemplate:
    source: str
    loc: Loc  # of the `template:` key that set it
    path: str  # of the route that set it (its children inherit it)


def template_errors(
    channels: Mapping[str, ChannelConfig], tree: Route, doc: YamlDocument, file: str
) -> list[ConfigError]:
    """One error per template that fails on some sample, for every channel and route."""
    live: dict[str, Channel] = {
        name: CHANNEL_TYPES[cfg.type](name, cfg)  # type: ignore[call-arg]
        for name, cfg in channels.items()
    }
    samples = {name: sample_notifications(name) for name in channels}
    return [
        *_channel_errors(live, samples, doc, file),
        *_route_errors(tree, live, samples, doc, file),
    ]


def _channel_errors(
    live: Mapping[str, Channel],
    samples: Mapping[str, list[Sample]],
    doc: YamlDocument,
    file: str,
) -> Iterator[ConfigError]:
    for name, channel in live.items():
        failure = _first_failure(channel, samples[name], None)
        if failure is None:
            continue
        has_own = isinstance(doc.data["channels"][name].get("template"), str)
        loc = ("channels", name, "template") if has_own else ("channels", name)
        which = "its template" if has_own else "its default template"
        message = f'channel "{name}": {which} fails on {failure[0]}'
        public = f"a channel's template fails on a sample event ({failure[1]})"
        yield ConfigError(file, doc.line_of(loc), message, public)


def _route_errors(
    tree: Route,
    live: Mapping[str, Channel],
    samples: Mapping[str, list[Sample]],
    doc: YamlDocument,
    file: str,
) -> Iterator[ConfigError]:
    """At most one error per route template: the first receiver and sample it fails on."""
    failed: set[str] = set()
    tried: set[tuple[str, str]] = set()
    for route, template in _route_templates(tree.children, doc.data.get("routes"), (), None):
        for receiver in route.receivers:
            if template.path in failed or (template.source, receiver) in tried:
                continue
            tried.add((template.source, receiver))
            failure = _first_failure(live[receiver], samples[receiver], template.source)
            if failure is None:
                continue
            failed.add(template.path)
            inherited = "" if template.path == route.path else f" (inherited by {route.path})"
            message = (
                f"route {template.path}{inherited}: template fails for receiver "
                f'"{receiver}" on {failure[0]}'
            )
            public = f"route {template.path}: template fails on a sample event ({failure[1]})"
            yield ConfigError(file, doc.line_of(template.loc), message, public)


def _first_failure(
    channel: Channel, samples: list[Sample], template: str | None
) -> tuple[str, str] | None:
    """(full description, what kind of failure) of the first sample that fails, or None.

    The kind is shown by the API: an exception's class name, or why the render was
    stopped, never text from the template or the sample."""
    for sample in samples:
        try:
            channel.render_blocking(replace(sample.notification, template=template))
        except TemplateFailed as exc:
            raised = _RAISED.search(exc.detail)
            kind = raised[1] if raised else _STOPPED.sub("", exc.detail)
            return f'sample "{sample.name}": {exc.detail}', kind
        except Exception as exc:  # any failure to render is what this looks for
            kind = type(exc).__name__
            return f'sample "{sample.name}": {kind}' + (f": {exc}" if str(exc) else ""), kind
    return None


# channels/templating.failure(): "… failed: ZeroDivisionError: <message>".
_RAISED = re.compile(r"failed: (\w+):")
# "the route's template stopped after 2s of CPU time: it took too long" -> the reason.
_STOPPED = re.compile(r"^.*?(?=stopped)")


def _route_templates(
    routes: tuple[Route, ...], raw: Any, loc: Loc, inherited: _RouteTemplate | None
) -> Iterator[tuple[Route, _RouteTemplate]]:
    """Each route with the template in force for it and where that template was written."""
    items = raw if isinstance(raw, list) else []
    for index, (route, item) in enumerate(zip(routes, items, strict=False)):
        here = (*loc, "routes", index)
        own = isinstance(item, dict) and item.get("template") is not None
        source = route.settings.template_source
        template = (
            _RouteTemplate(source, (*here, "template"), route.path) if own and source else inherited
        )
        if template is not None and source is not None:
            yield route, template
        yield from _route_templates(
            route.children, item.get("routes") if isinstance(item, dict) else None, here, template
        )
