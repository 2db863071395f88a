"""How a value from a payload is made inert in each channel's markup, and how links are made.

Every value a template prints passes through its channel's escaper (channels/templating.py
wires them into Jinja), so an alert name or a branch cannot mention, link or format in
the message. What each renderer honours, and why we neutralise it this way:

- Slack mrkdwn (https://api.slack.com/reference/surfaces/formatting#escaping): `&`, `<`
  and `>` are its control characters and the only ones it documents an escape for
  (`&amp;` `&lt;` `&gt;`). `*`, `_`, `~` and a backquote have no escape at all (a backslash
  prints literally and escapes nothing: slackhq/slack-api-docs#34), so they become
  look-alikes that are never delimiters.
- DingTalk and WeCom markdown: a subset of Markdown plus HTML (`<font color=…>`, WeCom's
  `<@userid>` mention), as their robot docs list
  (https://open.dingtalk.com/document/orgapp/message-type,
  https://developer.work.weixin.qq.com/document/path/91770). Neither documents an
  escape. Backslash escapes help only where the renderer honours them (DingTalk shown
  only for `\\#`), and entities only if it decodes them after parsing; a full-width
  look-alike (［ ］ ＜ ＞) is plain text whatever the renderer does, and reads the same to
  the people these robots serve.
- WeCom text messages: plain text, except that `<@userid>` mentions there too (doc 91770:
  "text/markdown类型消息支持在content中使用<@userid>扩展语法"), so `<` and `>` become
  look-alikes.
- Teams Adaptive Card TextBlocks: Markdown's bold, italic, lists and links only, no HTML
  (https://learn.microsoft.com/en-us/microsoftteams/platform/task-modules-and-cards/cards/cards-format),
  so DingTalk's look-alikes, and a numbered-list opener (`1.`) loses its full stop.
- HTML (e-mail, Telegram's HTML parse mode): entities, as Jinja's own autoescape does.

Invisible controls and bidirectional overrides (U+202E…) are dropped everywhere: they let
text display as something other than what it says.
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

import markupsafe

# C0/C1 controls except tab and newline, and the bidi embeddings, overrides and isolates.
_INVISIBLE = {
    **dict.fromkeys([*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20), *range(0x7F, 0xA0)]),
    **dict.fromkeys([*range(0x202A, 0x202F), *range(0x2066, 0x206A)]),
    ord("\r"): None,
}
# Look-alikes: the same glyph to a reader, never a delimiter to a parser.
_SLACK = str.maketrans(
    {**_INVISIBLE, "&": "&amp;", "<": "&lt;", ">": "&gt;", "*": "∗", "~": "∼", "`": "ˋ"}
)
_MARKDOWN = str.maketrans(
    {
        **_INVISIBLE,
        "[": "［",
        "]": "］",
        "<": "＜",
        ">": "＞",
        "*": "∗",
        "~": "∼",
        "`": "ˋ",
        "\\": "＼",
        # Entities could turn back into markup in a renderer that decodes them first.
        "&": "＆",
    }
)
_PLAIN = str.maketrans(_INVISIBLE)
_CHAT_TEXT = str.maketrans({**_INVISIBLE, "<": "＜", ">": "＞"})
# Markdown blocks a line opens with: headings (`#`, setext `===`/`---`), lists.
_LINE_OPENERS = {"#": "＃", "=": "＝", "-": "－", "+": "＋"}
# A line opening an ordered list: "1. item", "  12. item".
_NUMBERED = re.compile(r"^(\s*\d+)\.", re.MULTILINE)
# Longest URL that still becomes a link; longer ones are shown as text only.
MAX_LINK_URL = 8192
# What may stay as it is in a link's URL: RFC 3986 characters other than the ones link
# syntaxes use (`( ) < > [ ] | "` and whitespace), which are percent-encoded.
_URL_SAFE = "/:?#@!$&*+,;=%-._~"


def _soften_underscores(text: str) -> str:
    """`_` between two letters or digits stays (snake_case names); elsewhere it could
    open or close emphasis, so it becomes a full-width low line."""
    if "_" not in text:
        return text
    pieces = text.split("_")
    out = [pieces[0]]
    for piece in pieces[1:]:
        inside_word = out[-1][-1:].isalnum() and piece[:1].isalnum()
        out.append("_" if inside_word else "＿")
        out.append(piece)
    return "".join(out)


def _soften_line_openers(text: str) -> str:
    lines = text.split("\n")
    for index, line in enumerate(lines):
        body = line.lstrip(" \t")
        opener = _LINE_OPENERS.get(body[:1])
        if opener is not None:
            lines[index] = line[: len(line) - len(body)] + opener + body[1:]
    return "\n".join(lines)


def plain(value: str) -> str:
    """Plain text has no markup: only invisible controls are dropped."""
    return value.translate(_PLAIN)


def chat_text(value: str) -> str:
    """Plain text for a chat whose text messages still honour `<@user>` tags (WeCom)."""
    return value.translate(_CHAT_TEXT)


def slack(value: str) -> str:
    return _soften_underscores(value.translate(_SLACK))


def markdown(value: str) -> str:
    """DingTalk's and WeCom's markdown."""
    return _soften_line_openers(_soften_underscores(value.translate(_MARKDOWN)))


def teams(value: str) -> str:
    """Adaptive Card markdown in Teams: DingTalk's escaping, and no numbered list either."""
    return _NUMBERED.sub(r"\1．", markdown(value))


def html(value: str) -> str:
    return str(markupsafe.escape(value.translate(_PLAIN)))


def http_url(url: object) -> str | None:
    """`url` ready to put inside link syntax, or None when it is not an absolute http(s) URL.

    Only http and https links are made: `javascript:`, `data:`, relative paths (an
    Alertmanager generatorURL without --web.external-url) and the like stay text.
    """
    if not isinstance(url, str) or len(url) > MAX_LINK_URL:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme.lower() not in {"http", "https"} or not parts.netloc:
        return None
    return quote(parts.geturl(), safe=_URL_SAFE)


def slack_link(url: str, label: str) -> str:
    # Inside <…|…> the URL is still mrkdwn: its `&` is written as an entity.
    return f"<{url.replace('&', '&amp;')}|{label}>"


def markdown_link(url: str, label: str) -> str:
    return f"[{label}]({url})"


def html_link(url: str, label: str) -> str:
    return f'<a href="{markupsafe.escape(url)}">{label}</a>'


def plain_link(url: str, label: str) -> str:
    return f"{label} {url}" if label != url else url
