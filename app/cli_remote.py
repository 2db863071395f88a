"""The `signalbox` commands that talk to a running server, in the spirit of amtool:
events, deliveries, retry, silence add|query|expire, ack.

Each takes --url (SIGNALBOX_URL) and --token (SIGNALBOX_API_TOKEN), prints a table, or
the API's JSON with --json, and exits 1 saying why when the server refuses.
"""

from __future__ import annotations

import getpass
import json
from collections.abc import Sequence
from typing import Annotated, Any

import httpx
import typer

Url = Annotated[str, typer.Option("--url", envvar="SIGNALBOX_URL", help="the server's address")]
Token = Annotated[
    str | None,
    typer.Option("--token", envvar="SIGNALBOX_API_TOKEN", help="the API token", show_default=False),
]
AsJson = Annotated[bool, typer.Option("--json", help="the API's JSON instead of a table")]
DEFAULT_URL = "http://127.0.0.1:8080"
# Longest cell in a table column; the rest is cut with "…" (--json has it all).
CELL = 60

silence = typer.Typer(no_args_is_help=True, help="Add, list and expire silences.")


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"


def _call(method: str, url: str, token: str | None, path: str, **kwargs: Any) -> dict[str, Any]:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    try:
        with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
            answer = client.request(method, path, **kwargs)
    except httpx.HTTPError as exc:
        typer.echo(f"error: cannot reach {url}: {exc}", err=True)
        raise typer.Exit(1) from None
    try:
        body: dict[str, Any] = answer.json()
    except ValueError:
        body = {"error": f"HTTP {answer.status_code}", "detail": answer.text[:200]}
    if answer.status_code >= 400:
        typer.echo(f"error: {body.get('error')}: {body.get('detail')}", err=True)
        raise typer.Exit(1)
    return body


def _cell(value: object) -> str:
    text = "" if value is None else str(value).replace("\n", " ")
    return text if len(text) <= CELL else text[: CELL - 1] + "…"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Columns padded to their widest cell, as amtool prints them."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    lines = [list(headers), *cells]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines
    )


Rows = list[list[object]]


def _show(body: dict[str, Any], as_json: bool, headers: Sequence[str], rows: Rows) -> None:
    typer.echo(json.dumps(body, indent=2) if as_json else table(headers, rows))


def events(
    url: Url = DEFAULT_URL,
    token: Token = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    status: Annotated[str | None, typer.Option(help="firing, failure, …")] = None,
    as_json: AsJson = False,
) -> None:
    """List the newest events with their acknowledgement and silence."""
    params: dict[str, Any] = {"limit": limit, **({"status": status} if status else {})}
    body = _call("GET", url, token, "/api/events", params=params)
    rows: Rows = [
        [
            e["id"],
            e["received_at"][:19],
            e["labels"].get("source"),
            e["labels"].get("status"),
            e["title"],
            (e.get("ack") or {}).get("by", ""),
            e.get("silenced_by") or "",
        ]
        for e in body["events"]
    ]
    _show(body, as_json, ["ID", "RECEIVED", "SOURCE", "STATUS", "TITLE", "ACK", "SILENCED"], rows)


def deliveries(
    url: Url = DEFAULT_URL,
    token: Token = None,
    state: Annotated[str | None, typer.Option(help="pending, sent, failed, dead, …")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    as_json: AsJson = False,
) -> None:
    """List deliveries, newest first (--state dead: the ones given up on)."""
    params: dict[str, Any] = {"limit": limit, **({"state": state} if state else {})}
    body = _call("GET", url, token, "/api/deliveries", params=params)
    rows: Rows = [
        [d["id"], d["state"], d["receiver"], d["route"], len(d["attempts"]), d["last_error"]]
        for d in body["deliveries"]
    ]
    _show(body, as_json, ["ID", "STATE", "RECEIVER", "ROUTE", "ATTEMPTS", "LAST ERROR"], rows)


def retry(
    delivery_ids: Annotated[list[str] | None, typer.Argument(help="dead deliveries")] = None,
    all_dead: Annotated[bool, typer.Option("--all-dead", help="every dead delivery")] = False,
    url: Url = DEFAULT_URL,
    token: Token = None,
) -> None:
    """Send dead deliveries again."""
    ids = list(delivery_ids or [])
    if all_dead:
        dead = _call("GET", url, token, "/api/deliveries", params={"state": "dead", "limit": 1000})
        ids += [d["id"] for d in dead["deliveries"]]
    if not ids:
        typer.echo("nothing to retry: give delivery ids or --all-dead", err=True)
        raise typer.Exit(0 if all_dead else 2)
    for delivery_id in ids:
        _call("POST", url, token, f"/api/deliveries/{delivery_id}/retry")
        typer.echo(f"retrying {delivery_id}")


def ack(
    event_id: Annotated[str, typer.Argument(help="an event of the trouble to acknowledge")],
    by: Annotated[str | None, typer.Option(help="who has it (default: your login)")] = None,
    comment: str = "",
    url: Url = DEFAULT_URL,
    token: Token = None,
    as_json: AsJson = False,
) -> None:
    """Acknowledge an event's trouble: its repeats and escalation stop until it ends."""
    body = _call(
        "POST",
        url,
        token,
        "/api/acks",
        json={"event_id": event_id, "by": by or _user(), "comment": comment},
    )
    if as_json:
        typer.echo(json.dumps(body, indent=2))
    elif body["created"]:
        typer.echo(f"acknowledged by {body['by']}; told: {', '.join(body['told']) or 'nobody'}")
    else:
        typer.echo(f"already acknowledged by {body['by']} at {body['at'][:19]}")


@silence.command("add")
def silence_add(
    matchers: Annotated[list[str], typer.Argument(help='e.g. alertname="DiskFull"')],
    duration: Annotated[str | None, typer.Option("--duration", "-d", help="e.g. 2h")] = None,
    end: Annotated[str | None, typer.Option(help="ISO time it ends, instead of --duration")] = None,
    start: Annotated[str | None, typer.Option(help="ISO time it starts (default: now)")] = None,
    author: Annotated[str | None, typer.Option("--author", "-a")] = None,
    comment: Annotated[str, typer.Option("--comment", "-c")] = "",
    url: Url = DEFAULT_URL,
    token: Token = None,
) -> None:
    """Quiet every event matching all MATCHERS (routes.yaml syntax); prints its id."""
    body: dict[str, Any] = {"matchers": matchers, "created_by": author or _user()}
    # amtool's default length is an hour too; the server refuses --duration with --end.
    times = {"duration": duration or (None if end else "1h"), "ends_at": end, "starts_at": start}
    body |= {"comment": comment, **{k: v for k, v in times.items() if v is not None}}
    typer.echo(_call("POST", url, token, "/api/silences", json=body)["id"])


@silence.command("query")
def silence_query(
    state: Annotated[str | None, typer.Option(help="active, pending or expired")] = None,
    url: Url = DEFAULT_URL,
    token: Token = None,
    as_json: AsJson = False,
) -> None:
    """List silences (all, or those in --state)."""
    params = {"state": state} if state else {}
    body = _call("GET", url, token, "/api/silences", params=params)
    rows: Rows = [
        [
            s["id"],
            s["state"],
            " ".join(s["matchers"]),
            s["ends_at"][:19],
            s["created_by"],
            s["comment"],
        ]
        for s in body["silences"]
    ]
    _show(body, as_json, ["ID", "STATE", "MATCHERS", "ENDS", "BY", "COMMENT"], rows)


@silence.command("expire")
def silence_expire(
    silence_ids: Annotated[list[str], typer.Argument(help="silences to end now")],
    url: Url = DEFAULT_URL,
    token: Token = None,
) -> None:
    """End silences now."""
    for silence_id in silence_ids:
        _call("DELETE", url, token, f"/api/silences/{silence_id}")
        typer.echo(f"expired {silence_id}")


def register(cli: typer.Typer) -> None:
    """Add these commands to the `signalbox` command."""
    for command in (events, deliveries, retry, ack):
        cli.command()(command)
    cli.add_typer(silence, name="silence")
