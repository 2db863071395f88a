"""Hostile payload values, and what each provider would make of what it received.

One list of values that try to mention, link or format in every markup we send; events
that carry them in every field a template prints; and per markup a check that reads a
received message the way the provider renders it and reports anything from the payload
that came out live.
"""

from __future__ import annotations

import html
import re
from email.message import EmailMessage
from html.parser import HTMLParser
from typing import Any

from app.events import Event, base_labels
from channels.base import Notification
from providers.sample import notification

HOSTILE = (
    "<!channel> <https://evil.example/sso|Reset your SSO password>",
    "[Click for phish](https://evil.example/login) ![pixel](https://evil.example/p.png)",
    "<@U012AB3CD> <@all> <#C0123|general> <!subteam^S0123> ping everyone",
    '<font color="warning">URGENT font</font> <a href="https://evil.example">anchor text</a>'
    " <script>alert(1)</script> <img src=x onerror=alert(1)>",
    "# Heading injected\n## Subheading\n> quoted line\n- listed item\nSetext heading\n===",
    "*BOLD* **STRONG** _ITALIC_ ~STRUCK~ ~~DELETED~~ `CODE` trailing backslash \\",
    "&lt;!here&gt; &#91;Entity link&#93;(https://evil.example/e)",
    "\u202eelpmaxe.live\u202c bidi and \x1b[31mterminal escape\x07",
)
# Words of each value that must still be readable wherever it is shown.
READABLE = (
    "Reset your SSO password",
    "Click for phish",
    "ping everyone",
    "URGENT font",
    "Heading injected",
    "STRONG",
    "Entity link",
    "terminal escape",
)
URLS = (
    "https://ci.example/pipelines/1",
    "javascript:alert(document.cookie)",
    "https://ok.example/a|<!channel>",
    "https://ok.example/x) [more](https://evil.example/y",
    "/graph?g0.expr=up",
)
# Hosts of the events' own URLs: the only link targets a message may have.
OWN_HOSTS = ("ci.example", "ok.example")


def _event(fingerprint: str, value: str, url: str, **labels: Any) -> Event:
    return Event(
        fingerprint=fingerprint,
        title=value,
        url=url,
        labels=base_labels(**labels),
        annotations={"summary": value, "description": value},
    )


def hostile_notification() -> Notification:
    """CI events and alerts whose every printed field holds a hostile value."""
    events: list[Event] = []
    for n, value in enumerate(HOSTILE):
        url = URLS[n % len(URLS)]
        ci = dict.fromkeys(("project", "pipeline", "branch", "actor", "environment"), value)
        events.append(
            _event(
                f"hostile-ci-{n}",
                value,
                url,
                source="gitlab",
                kind="pipeline",
                status="failure",
                transition="broken",
                **ci,
            )
        )
        alert = dict.fromkeys(("pipeline", "severity", "instance", "cluster"), value)
        events.append(
            _event(
                f"hostile-alert-{n}",
                value,
                url,
                source="alertmanager",
                kind="alert",
                status="firing" if n % 2 else "resolved",
                project="prod",
                **alert,
            )
        )
    return notification(*events, group_labels={"alertname": HOSTILE[0], "cluster": HOSTILE[2]})


# -- what a renderer would make live ------------------------------------------------

_SLACK_ANGLE = re.compile(r"<([^<>]*)>")
_MD_LINK = re.compile(r"!?\[[^\]\n]*\]\(([^)\s]*)")
_MD_TAG = re.compile(r"<\s*(/?[A-Za-z@!#][^<>]*)>")
# Emphasis and code spans a value tried to open (its own markers, verbatim).
_FORMATTING = ("*BOLD*", "**STRONG**", "_ITALIC_", "~STRUCK~", "~~DELETED~~", "`CODE`")
_OWN_MD_TAGS = re.compile(r'font color="(warning|info|comment)"|/font')
# Tags of the e-mail template itself.
_OWN_HTML_TAGS = frozenset(
    {"html", "head", "meta", "title", "body", "h3", "ul", "li", "b", "s", "br", "small", "p"}
    | {"a", "pre"}
)


_OWN_LINK = re.compile(r"https?://({})[/?#]".format("|".join(map(re.escape, OWN_HOSTS))))


def _own_link(target: str) -> bool:
    return bool(_OWN_LINK.match(target))


def live_in_slack(text: str) -> list[str]:
    """Mentions, links and formatting Slack would render from `text` (mrkdwn)."""
    found = [f"<{m}>" for m in _SLACK_ANGLE.findall(text) if not _own_link(m.split("|")[0])]
    return found + [f for f in _FORMATTING if f in text]


def live_in_markdown(text: str, title_line: bool = True) -> list[str]:
    """Links, tags, headings, quotes and formatting DingTalk/WeCom markdown would render."""
    found = [f"link to {t}" for t in _MD_LINK.findall(text) if not _own_link(t)]
    found += [f"<{t}>" for t in _MD_TAG.findall(text) if not _OWN_MD_TAGS.fullmatch(t)]
    lines = text.split("\n")
    for number, line in enumerate(lines):
        body = line.lstrip()
        if body.startswith("#") and not (title_line and number == 0):
            found.append(f"heading {line!r}")
        if re.fullmatch(r"(=+|-{3,})", body):
            found.append(f"setext/rule {line!r}")
        if re.match(r"(>\s*)?([-+*]|\d+\.) listed item|>\s*quoted line", body):
            found.append(f"block {line!r}")
    return found + [f for f in _FORMATTING if f in text]


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.live: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _OWN_HTML_TAGS:
            self.live.append(f"<{tag}>")
        for name, value in attrs:
            if name == "href" and not _own_link(value or ""):
                self.live.append(f"href={value}")
            if name.startswith("on") or name == "src":
                self.live.append(f"{name}={value}")


def live_in_html(page: str) -> list[str]:
    parser = _Tags()
    parser.feed(page)
    return parser.live


def received_markup(type_name: str, bodies: list[Any]) -> list[tuple[str, str]]:
    """(markup, text) of every field the provider renders, from what it received."""
    out: list[tuple[str, str]] = []
    for body in bodies:
        if type_name == "slack":
            out.append(("slack", body["text"]))
            out += [("slack", b["text"]["text"]) for b in body["blocks"] if b["type"] == "section"]
        elif type_name == "dingtalk":
            out.append(("markdown-title", body["markdown"]["title"]))
            out.append(("markdown", body["markdown"]["text"]))
        elif type_name == "wecom":
            kind = body["msgtype"]
            out.append(("markdown" if kind == "markdown" else "chat_text", body[kind]["content"]))
        elif type_name == "webhook":
            out.append(("plain", body["text"]))
        elif type_name == "feishu":
            out += _feishu(body)
        elif type_name == "teams":
            card = body["attachments"][0]["content"]
            out += [("teams", block["text"]) for block in card["body"]]
        elif type_name == "telegram":
            out.append(("telegram-html", body["text"]))
        elif type_name == "pagerduty":
            if body["event_action"] == "trigger":
                out.append(("plain", body["payload"]["summary"]))
                out += [("link", link["href"]) for link in body.get("links", [])]
        elif type_name == "email":
            assert isinstance(body, EmailMessage)
            for part in body.walk():
                if part.get_content_type() == "text/html":
                    out.append(("html", part.get_content()))
                elif part.get_content_type() == "text/plain":
                    out.append(("plain", part.get_content()))
    return out


def _feishu(body: dict[str, Any]) -> list[tuple[str, str]]:
    """A card's header (plain text) and markdown; a post's title, texts and links."""
    if body["msg_type"] == "interactive":
        card = body["card"]
        out = [("plain", card["header"]["title"]["content"])]
        return out + [("markdown-title", e["content"]) for e in card["elements"]]
    [post] = body["content"]["post"].values()
    out = [("plain", post["title"])]
    for paragraph in post["content"]:
        for element in paragraph:
            if element["tag"] == "a":
                out += [("link", element["href"]), ("plain", element["text"])]
            elif element["tag"] == "text":
                out.append(("plain", element["text"]))
            else:
                out.append(("element", element["tag"]))
    return out


# Tags Telegram's HTML parse mode takes that the shipped template writes.
_OWN_TELEGRAM_TAGS = frozenset({"b", "i", "s", "a"})
_NUMBERED_LIST = re.compile(r"^\s*\d+\. ", re.MULTILINE)


def live_markup(markup: str, text: str) -> list[str]:
    """What would render live from the payload in `text`, read as `markup`."""
    if markup == "slack":
        return live_in_slack(text)
    if markup in {"markdown", "markdown-title"}:
        return live_in_markdown(text, title_line=markup == "markdown")
    if markup == "teams":
        # No headings in Teams: none is ours either. Its lists include numbered ones.
        numbered = [f"list {m!r}" for m in _NUMBERED_LIST.findall(text)]
        return live_in_markdown(text, title_line=False) + numbered
    if markup == "telegram-html":
        tags = [t for t in live_in_html(text) if t.strip("<>") not in _OWN_TELEGRAM_TAGS]
        return tags
    if markup == "link":
        return [] if _own_link(text) else [f"link to {text}"]
    if markup == "element":
        return [f"{text} element"]
    if markup == "html":
        return live_in_html(text)
    if markup == "chat_text":
        return [f"<{t}>" for t in _MD_TAG.findall(text)]
    return []


def readable(markup: str, text: str) -> str:
    """`text` as a reader sees it: Slack's and HTML's entities decoded."""
    return html.unescape(text) if markup in {"slack", "html", "telegram-html"} else text
