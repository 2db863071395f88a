"""The Jinja2 environments channels render with: one pair per markup, each escaping for it.

Every value a template prints is escaped for its channel's markup (channels/markup.py):
an alert name cannot mention `<!channel>` in Slack, link `[phish](…)` in DingTalk or colour
`<font>` in WeCom. What is not escaped is the template author's own markup: its literal
text, what its macros and `{% set %}` blocks produce, and what helper filters return as
markup (`link`, which makes only http(s) URLs into links, and `safe`, for trusted text).

Jinja only knows HTML escaping, so each markup has its own `Markup` subclass whose
`escape` is the channel's, and the generated code is pointed at it (the code generator
below rebinds the names the compiled module uses): concatenation (`~`), joins and macro
output then escape for the channel too, never with HTML rules that would leave `[` or `*`
live. Anything else that reaches the output unmarked is escaped again: over-escaping is
the failure mode, never injection.

Ops-written templates (routes.yaml `template:`) use the sandboxed environments and are
compiled without constant folding, so compiling one never evaluates it: rendering them
happens in a worker process with limits (channels/sandbox.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from functools import cache, lru_cache
from itertools import chain
from pathlib import Path
from typing import Any, Literal

import jinja2
import markupsafe
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.filters import make_attrgetter
from jinja2.runtime import Macro
from jinja2.sandbox import ImmutableSandboxedEnvironment

from channels import markup
from channels.wording import EN

TEMPLATE_DIR = Path(__file__).parent / "templates"

Kind = Literal["plain", "chat_text", "slack", "markdown", "teams", "html"]


class ChannelMarkup(markupsafe.Markup):
    """Text that is already markup for one channel; what is added to it gets its escaper."""

    __slots__ = ()

    @staticmethod
    def escaper(text: str, /) -> str:
        """This markup's escaping of plain text."""
        raise NotImplementedError

    @staticmethod
    def linker(url: str, label: str, /) -> str:
        """This markup's link to a checked URL with an already escaped label."""
        raise NotImplementedError

    @classmethod
    def escape(cls, s: Any, /) -> ChannelMarkup:
        # Only this channel's markup passes as is: HTML-safe text from elsewhere in Jinja
        # (a builtin filter's Markup) is escaped again for this channel.
        if isinstance(s, cls):
            return s
        return cls(cls.escaper(str(s)))

    @classmethod
    def link(cls, url: Any, label: Any = None) -> ChannelMarkup:
        """A link to `url` labelled `label`, or the label alone when `url` is not http(s)."""
        text = cls.escape(url if label is None else label)
        target = markup.http_url(url)
        return text if target is None else cls(cls.linker(target, text))


def _markup_class(
    name: str, escaper: Callable[[str], str], linker: Callable[[str, str], str]
) -> type[ChannelMarkup]:
    namespace = {"__slots__": (), "escaper": staticmethod(escaper), "linker": staticmethod(linker)}
    return type(name, (ChannelMarkup,), namespace)


# One Markup class per markup: (escaping of plain text, link syntax).
MARKUP: dict[Kind, type[ChannelMarkup]] = {
    "plain": _markup_class("PlainText", markup.plain, markup.plain_link),
    "chat_text": _markup_class("ChatText", markup.chat_text, markup.plain_link),
    "slack": _markup_class("SlackText", markup.slack, markup.slack_link),
    "markdown": _markup_class("MarkdownText", markup.markdown, markup.markdown_link),
    "teams": _markup_class("TeamsText", markup.teams, markup.markdown_link),
    "html": _markup_class("HtmlText", markup.html, markup.html_link),
}


class _EscapingGenerator(CodeGenerator):
    """Compiles templates whose markup helpers are the environment's, not HTML's."""

    def visit_Template(self, node: nodes.Template, frame: Frame | None = None) -> None:
        super().visit_Template(node, frame)
        # Module-level names the compiled code builds markup with, rebound after its
        # `from jinja2.runtime import …` line.
        self.writeline("Markup = environment.markup_class")
        self.writeline("escape = environment.markup_class.escape")
        self.writeline("markup_join = environment.markup_join")
        self.writeline("Macro = environment.macro_class")

    def visit_EvalContextModifier(self, node: nodes.EvalContextModifier, frame: Frame) -> None:
        # `{% autoescape false %}` would not stop escaping (finalize does it) and its
        # expression would be evaluated while compiling: refuse it with its line.
        self.fail("autoescape blocks are not supported: values are always escaped", node.lineno)

    def visit_ScopedEvalContextModifier(
        self, node: nodes.ScopedEvalContextModifier, frame: Frame
    ) -> None:
        self.visit_EvalContextModifier(node, frame)


class _ChannelMacro(Macro):
    """A macro's output is markup of the environment's kind (Jinja's would be HTML's)."""

    def _invoke(self, arguments: list[Any], autoescape: bool) -> str:
        rv = super()._invoke(arguments, autoescape)
        environment = self._environment
        assert isinstance(environment, _Escaping)
        return environment.markup_class(rv) if autoescape else rv


class _Escaping(jinja2.Environment):
    """Settings shared by the shipped and the sandboxed environment of one markup."""

    code_generator_class = _EscapingGenerator
    macro_class = _ChannelMacro
    markup_class: type[ChannelMarkup]

    def __init__(self, kind: Kind, **options: Any) -> None:
        super().__init__(
            loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
            autoescape=True,
            undefined=jinja2.ChainableUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
            # The shipped templates change only with a new release (a restart); checking
            # each file's mtime on every render was a system call per message.
            auto_reload=False,
            **options,
        )
        cls = self.markup_class = MARKUP[kind]
        # Runs on every printed value; pass_eval_context keeps Jinja from calling it at
        # compile time on constants.
        self.finalize = jinja2.pass_eval_context(lambda _, value: cls.escape(value))
        self.filters.update(
            escape=cls.escape,
            e=cls.escape,
            forceescape=lambda value: cls(cls.escaper(str(value))),
            # Slack templates written before escaping was automatic still say `| mrkdwn`.
            mrkdwn=cls.escape,
            safe=lambda value: cls(str(value)),
            link=cls.link,
            join=jinja2.pass_environment(_join),
        )
        # What _macros.j2 speaks when imported without the render's context (no `t`).
        self.globals["default_words"] = EN

    def markup_join(self, seq: Iterable[Any]) -> str:
        """`a ~ b`: escaped for this channel as soon as one side is markup."""
        items: Iterator[Any] = iter(seq)
        buffer: list[Any] = []
        for item in items:
            buffer.append(item)
            if hasattr(item, "__html__"):
                return self.markup_class("").join(chain(buffer, items))
        return "".join(map(str, buffer))


def _join(
    environment: _Escaping, value: Iterable[Any], d: str = "", attribute: str | None = None
) -> str:
    """Jinja's `join`, escaping plain items for this channel when any item is markup."""
    if attribute is not None:
        value = map(make_attrgetter(environment, attribute), value)
    items = list(value)
    if any(hasattr(item, "__html__") for item in items):
        return environment.markup_class.escape(d).join(items)
    return str(d).join(map(str, items))


class ShippedEnvironment(_Escaping):
    """The defaults in channels/templates/: code we review, rendered without the sandbox's
    check on every attribute and call (a tenth of a delivery's time)."""


class OpsEnvironment(_Escaping, ImmutableSandboxedEnvironment):
    """Templates from routes.yaml: sandboxed, and compiled without evaluating anything."""

    def __init__(self, kind: Kind) -> None:
        super().__init__(kind, optimized=False)


@cache
def shipped_environment(kind: Kind) -> ShippedEnvironment:
    return ShippedEnvironment(kind)


@cache
def ops_environment(kind: Kind) -> OpsEnvironment:
    return OpsEnvironment(kind)


@lru_cache(maxsize=256)
def ops_template(source: str, kind: Kind) -> jinja2.Template:
    """An ops-written template compiled for one markup; raises jinja2.TemplateSyntaxError."""
    return ops_environment(kind).from_string(source)


def compile_template(source: str) -> jinja2.Template:
    """Check an ops-written template when routes.yaml is validated (errors carry the line).

    Every markup has the same filters and tags, so compiling for plain text finds what
    compiling for any channel would.
    """
    return ops_template(source, "plain")


def named_template(name: str, kind: Kind) -> jinja2.Template:
    """A default template shipped in channels/templates/."""
    return shipped_environment(kind).get_template(name)


def failure(exc: BaseException) -> str:
    """How a template's exception reads after "the … template" in a delivery's error."""
    return f"failed: {type(exc).__name__}: {str(exc)[:300]}"
