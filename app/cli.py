"""The `signalbox` command: serve, check, route-test, send-test; and, against a running
server, events, deliveries, retry, silence, ack."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from app import cli_remote
from app.routing.config import ConfigInvalid, RoutingConfig, load_config

cli = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)


@cli.command()
def serve(
    config: Annotated[
        Path, typer.Option(envvar="SIGNALBOX_CONFIG", help="routes.yaml to load and watch")
    ] = Path("routes.yaml"),
    host: Annotated[str, typer.Option(envvar="SIGNALBOX_HOST")] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="SIGNALBOX_PORT")] = 8080,
    data_dir: Annotated[
        Path, typer.Option(envvar="SIGNALBOX_DATA_DIR", help="where the SQLite store lives")
    ] = Path("./data"),
    database_url: Annotated[
        str | None,
        typer.Option(
            envvar="SIGNALBOX_DATABASE_URL",
            help="postgresql://user@host/db: store in PostgreSQL (shared by replicas) "
            "instead of SQLite; give the password in the variable or PGPASSWORD, not here",
            show_default=False,
        ),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            envvar="SIGNALBOX_WORKERS",
            min=1,
            help="processes serving the port, each a replica (one per core; PostgreSQL only)",
        ),
    ] = 1,
    worker_index: Annotated[int | None, typer.Option(hidden=True)] = None,
    listen_fd: Annotated[int | None, typer.Option(hidden=True)] = None,
) -> None:
    """Run the HTTP service."""
    import socket
    import sys

    import uvicorn
    from pydantic import ValidationError

    from app.http_server import uvicorn_options
    from app.logs import setup_logging
    from app.main import create_app, freeze_startup_heap
    from app.settings import Settings
    from app.workers import Supervisor, child_command, listening_socket

    # Refuse to start on an invalid file, with every error, rather than a traceback.
    _load_or_exit(config)
    setup_logging()
    try:
        settings = Settings(
            config=config, host=host, port=port, data_dir=data_dir, database_url=database_url
        )
    except ValidationError as exc:
        for error in exc.errors():
            typer.echo(f"{'.'.join(map(str, error['loc']))}: {error['msg']}", err=True)
        raise typer.Exit(2) from None
    if workers > 1 and worker_index is None:
        if settings.database_url is None:
            typer.echo(
                "--workers needs PostgreSQL (--database-url / SIGNALBOX_DATABASE_URL): the "
                "workers are replicas sharing one database, and a SQLite file is one "
                "process's",
                err=True,
            )
            raise typer.Exit(2)
        sock = listening_socket(host, port)
        raise typer.Exit(Supervisor(child_command(sys.argv), workers, sock).run())
    if worker_index is not None:
        settings.replica_id = f"{settings.replica}/{worker_index}"
    app = create_app(settings)
    freeze_startup_heap()
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_config=None,
            # Open requests (a console's live feed never ends by itself) may delay the
            # bus's grace period this long at most; webhooks are answered in milliseconds.
            timeout_graceful_shutdown=min(math.ceil(settings.shutdown_grace), 5),
            **uvicorn_options(settings),
        )
    )
    # A worker of `--workers N` accepts on the socket its parent bound.
    sockets = [socket.socket(fileno=listen_fd)] if listen_fd is not None else None
    server.run(sockets=sockets)


def _load_or_exit(config: Path) -> RoutingConfig:
    try:
        return load_config(config)
    except ConfigInvalid as exc:
        for error in exc.errors:
            typer.echo(str(error))
        typer.echo(f"{config}: invalid, {len(exc.errors)} error(s)", err=True)
        raise typer.Exit(1) from None


@cli.command()
def check(
    config: Annotated[
        Path, typer.Argument(envvar="SIGNALBOX_CONFIG", help="the routes.yaml to validate")
    ] = Path("routes.yaml"),
) -> None:
    """Validate routes.yaml: exit 0 if valid, else 1 after printing every error with its line."""
    loaded = _load_or_exit(config)
    for warning in loaded.warnings:
        typer.echo(f"{config}: warning: {warning}")
    typer.echo(
        f"{config}: OK ({len(loaded.routes())} routes, {len(loaded.channels)} channels, "
        f"hash {loaded.hash})"
    )


@cli.command("route-test")
def route_test(
    source: Annotated[
        str,
        typer.Option(help="github, gitlab, jenkins, alertmanager, grafana or generic/<name>"),
    ],
    event: Annotated[Path, typer.Option(help="a webhook payload (JSON file)")],
    header: Annotated[
        list[str], typer.Option(help="a request header K=V, e.g. X-GitHub-Event=workflow_run")
    ] = [],  # noqa: B006 - typer reads the default, never mutates it
    label: Annotated[
        list[str], typer.Option(help="set or override a label K=V, e.g. failure_streak=2")
    ] = [],  # noqa: B006
    config: Annotated[Path, typer.Option(envvar="SIGNALBOX_CONFIG")] = Path("routes.yaml"),
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Show where a payload's events would be routed; sends nothing.

    Stored history is unknown here: `transition` and `failure_streak` are only what the
    payload itself yields unless given with --label (e.g. --label transition=fixed).
    """
    from app.routetest import CannotRoute, parse_pairs, route_payload
    from app.sources import resolve, source_keys

    loaded = _load_or_exit(config)
    if resolve(source, loaded.sources) is None:
        known = ", ".join(source_keys(loaded.sources))
        raise typer.BadParameter(f"unknown source {source!r} (known: {known})")
    try:
        overrides = parse_pairs(label, "--label")
        headers = parse_pairs(header, "--header")
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    try:
        text = event.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        typer.echo(f"{event}: cannot read: {exc}", err=True)
        raise typer.Exit(1) from None
    try:
        result = route_payload(loaded, source, text, headers, overrides, datetime.now(UTC))
    except CannotRoute as exc:
        typer.echo(f"{event}: {exc}", err=True)
        raise typer.Exit(1) from None
    if result.ignored is not None:
        typer.echo(
            json.dumps({"ignored": result.ignored}) if as_json else f"ignored: {result.ignored}"
        )
        return
    if as_json:
        events = [
            {"title": e.title, "labels": e.labels, **e.explanation.as_dict()} for e in result.events
        ]
        typer.echo(json.dumps({"config": result.config_hash, "events": events}, indent=2))
        return
    for item in result.events:
        typer.echo(f"event: {item.title}")
        typer.echo("  labels: " + " ".join(f"{k}={v}" for k, v in sorted(item.labels.items())))
        for line in item.explanation.lines():
            typer.echo(f"  {line}")
    if not result.events:
        typer.echo("the payload yielded no events")


@cli.command("send-test")
def send_test_command(
    channel: Annotated[str, typer.Argument(help="a channel name from routes.yaml")],
    config: Annotated[Path, typer.Option(envvar="SIGNALBOX_CONFIG")] = Path("routes.yaml"),
) -> None:
    """Send one test message through CHANNEL and print the provider's answer."""
    import asyncio

    from app.sendtest import SendTestFailed, send_test

    loaded = _load_or_exit(config)
    try:
        answers = asyncio.run(send_test(loaded, channel))
    except SendTestFailed as exc:
        typer.echo(f"{channel}: {exc}", err=True)
        raise typer.Exit(1) from None
    for answer in answers:
        typer.echo(f"{channel}: sent: {answer}")


cli_remote.register(cli)


def main() -> None:
    cli()
