"""Serve Signalbox or the bare baseline with the same uvicorn settings.

    serve.py signalbox --port P --config routes.yaml --data-dir DIR [--access-log]
                       [--workers N]
    serve.py bare --port P

Both: uvicorn, loop and http "auto" (uvloop and httptools when installed, as
`signalbox serve` gets them), one process, lifespan on, access log off (unless
--access-log), no uvicorn log config. Signalbox logs its JSON lines to stderr as
`signalbox serve` does; the bench sends them to a file. SIGNALBOX_* variables are read
as `signalbox serve` reads them (SIGNALBOX_DATABASE_URL: the PostgreSQL store); the
replica is named host:port, as `signalbox serve` names it.

--workers N runs N such processes on one socket as `signalbox serve --workers N` does,
with the tree's own supervisor (app/workers.py): it binds the port and starts the
workers, each a replica named host:port/i accepting on the socket it was handed.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

SRC = Path(os.environ.get("BENCH_SRC", Path(__file__).resolve().parents[1])).resolve()


def bare_app() -> FastAPI:
    """The floor: FastAPI reading the body and json.loads-ing it, nothing more."""
    app = FastAPI()

    @app.post("/hooks/{source}", response_model=None)
    async def receive(source: str, request: Request) -> JSONResponse:
        payload = json.loads(await request.body())
        return JSONResponse({"accepted": len(payload), "source": source}, status_code=202)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def signalbox_app(
    config: Path,
    data_dir: Path,
    src: Path = SRC,
    port: int = 8080,
    worker: int | None = None,
) -> FastAPI:
    """Signalbox from source tree `src`, logging and heap as `signalbox serve` has them;
    `worker`: the index of a `--workers` worker (named host:port/index)."""
    sys.path.insert(0, str(src))
    import app
    import app.main
    from app.logs import setup_logging
    from app.settings import Settings

    if os.environ.get("BENCH_COMMIT_STATS"):
        _count_commits()
    if os.environ.get("BENCH_PG_STATS"):
        _count_statements()
    setup_logging()
    print(f"serving {Path(app.__file__).parent}", file=sys.stderr, flush=True)
    settings = Settings(config=config, data_dir=data_dir, port=port)
    if worker is not None:
        settings.replica_id = f"{settings.replica}/{worker}"
    server = app.main.create_app(settings)
    # As `signalbox serve` does; older trees (BENCH_SRC) have no such step.
    freeze = getattr(app.main, "freeze_startup_heap", None)
    if freeze is not None:
        freeze()
    return server


def _count_commits() -> None:
    """Measure group commit from outside app/: wrap SqliteStore._commit, report every 5 s
    (uvicorn re-raises SIGTERM after its shutdown, so atexit would not run)."""
    import threading
    import time

    from app.store.sqlite import SqliteStore

    sizes: list[int] = []
    seconds: list[float] = []
    commit = SqliteStore._commit

    def counted(self: SqliteStore, conn: Any, tx: Any, batch: list[Any]) -> None:
        start = time.perf_counter()
        commit(self, conn, tx, batch)
        seconds.append(time.perf_counter() - start)
        sizes.append(len(batch))

    def report() -> None:
        reported = 0
        while True:
            time.sleep(5)
            if len(sizes) == reported:
                continue
            reported = len(sizes)
            ordered = sorted(seconds)
            print(
                f"COMMITS {len(sizes)} jobs={sum(sizes)} "
                f"mean_batch={sum(sizes) / len(sizes):.1f} max_batch={max(sizes)} "
                f"commit_ms_p50={1000 * ordered[len(ordered) // 2]:.2f} "
                f"commit_ms_p99={1000 * ordered[int(len(ordered) * 0.99)]:.2f} "
                f"busy_s={sum(seconds):.1f}",
                file=sys.stderr,
                flush=True,
            )

    SqliteStore._commit = counted  # type: ignore[method-assign]
    threading.Thread(target=report, name="bench-commit-stats", daemon=True).start()


def _count_statements() -> None:
    """Count PostgreSQL round trips from outside app/: wrap psycopg's Connection.execute
    (the store's only way to the server) and log, every 5 s, each thread's statements so
    far and the seconds it spent waiting in them."""
    import threading
    import time
    from collections import defaultdict

    import psycopg

    calls: defaultdict[str, int] = defaultdict(int)
    waited: defaultdict[str, float] = defaultdict(float)
    execute = psycopg.Connection.execute

    def counted(self: psycopg.Connection[Any], *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return execute(self, *args, **kwargs)
        finally:
            name = threading.current_thread().name
            calls[name] += 1
            waited[name] += time.perf_counter() - start

    def report() -> None:
        while True:
            time.sleep(5)
            for name in sorted(calls):
                print(
                    f"STATEMENTS thread={name} n={calls[name]} wait_s={waited[name]:.2f}",
                    file=sys.stderr,
                    flush=True,
                )

    psycopg.Connection.execute = counted  # type: ignore[method-assign]
    threading.Thread(target=report, name="bench-statement-stats", daemon=True).start()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["signalbox", "bare"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--config", type=Path, default=Path("routes.yaml"))
    parser.add_argument("--data-dir", type=Path, default=Path("./data"))
    parser.add_argument("--access-log", action="store_true")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--worker-index", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--listen-fd", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.workers > 1 and args.worker_index is None:
        sys.exit(supervise(args.workers, args.port))
    app = (
        signalbox_app(args.config, args.data_dir, port=args.port, worker=args.worker_index)
        if args.kind == "signalbox"
        else bare_app()
    )
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=args.port,
        loop="auto",
        http="auto",
        lifespan="on",
        access_log=args.access_log,
        log_config=None,
    )
    # A worker accepts on the socket its supervisor bound.
    sockets = [socket.socket(fileno=args.listen_fd)] if args.listen_fd is not None else None
    uvicorn.Server(config).run(sockets=sockets)


def supervise(workers: int, port: int) -> int:
    """Run this command `workers` times on one socket, as `signalbox serve --workers`."""
    sys.path.insert(0, str(SRC))
    # The tree's own supervisor (app/workers.py, from `signalbox serve --workers`).
    from app import logs
    from app import workers as supervisor

    logs.setup_logging()
    sock = supervisor.listening_socket("127.0.0.1", port)
    # This very command again: its --worker-index (added by the supervisor) makes it serve.
    command = [sys.executable, *sys.argv]
    code: int = supervisor.Supervisor(command, workers, sock).run()
    return code


if __name__ == "__main__":
    main()
